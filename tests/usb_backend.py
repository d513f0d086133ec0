"""A simulated USB bus for pyusb: one ESC/POS receipt printer behind pyusb's own back-end seam.

``FakeUsbBus`` is a ``usb.backend.IBackend``, the interface libusb-1.0 is reached through, so the
driver runs pyusb's real ``find``, descriptor walking, interface claiming and transfers against it.
The printer it presents has one configuration and one interface (printer class 7 or vendor-specific
0xFF) with bulk OUT 0x01 and, unless ``in_endpoint=False``, bulk IN 0x82, like a Winbond 0416:5011 or
an Epson TM. It records what is written and with which timeout, answers DLE EOT n on bulk IN from
``dle_eot`` (or not at all with ``answers_dle_eot=False``), answers the printer class's
GET_PORT_STATUS from ``port_status``, and can be unplugged (it is no longer enumerated and every
transfer fails with ENODEV, as libusb reports a device gone), plugged back in (a new device address,
as the kernel gives a replugged device) and made to stall (bulk OUT times out).
"""

from __future__ import annotations

import array
import errno
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

OUT_EP = 0x01
IN_EP = 0x82
CLASS_PRINTER = 7
CLASS_VENDOR = 0xFF
DLE, EOT = 0x10, 0x04
# GET_PORT_STATUS bits: paper empty, selected (online), not error.
PORT_OK = 0x18
PORT_PAPER_EMPTY = 0x38


@dataclass
class _Descriptor:
    """pyusb copies the descriptor fields it knows off whatever object the back-end returns."""

    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class _Handle:
    address: int
    open: bool = True


@dataclass
class Write:
    data: bytes
    timeout_ms: int


# eq=False: pyusb hashes its back-end into a device's identity.
@dataclass(eq=False)
class FakeUsbBus(usb.backend.IBackend):  # type: ignore[misc]
    vendor: int = 0x0416
    product: int = 0x5011
    interface_class: int = CLASS_PRINTER
    in_endpoint: bool = True
    answers_dle_eot: bool = True
    plugged: bool = True
    stalled: bool = False
    accept_at_most: int | None = None  # a short write: libusb's report of a timeout mid-transfer
    # DLE EOT n -> the reply byte; 0x12 is "all fine" (only the fixed bits).
    dle_eot: dict[int, int] = field(default_factory=lambda: {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12})
    port_status: int | None = PORT_OK  # None: GET_PORT_STATUS stalls (not supported)
    address: int = 5
    writes: list[Write] = field(default_factory=list)
    read_timeouts: list[int] = field(default_factory=list)
    control_requests: list[tuple[int, int, int, int]] = field(default_factory=list)
    opened: int = 0
    claimed: set[int] = field(default_factory=set)
    _pending: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        super().__init__()

    # --- the test's hands ---

    def unplug(self) -> None:
        self.plugged = False
        self._pending.clear()

    def plug(self) -> None:
        if not self.plugged:
            self.plugged = True
            self.address += 1  # a replugged device is a new device to the host

    @property
    def received(self) -> bytes:
        """Every byte bulk OUT accepted, status requests included."""
        return b"".join(w.data for w in self.writes)

    @property
    def printed(self) -> bytes:
        """What went to bulk OUT beyond the DLE EOT status requests."""
        return b"".join(w.data for w in self.writes if not _is_status_request(w.data))

    # --- IBackend ---

    def enumerate_devices(self) -> list[int]:
        return [self.address] if self.plugged else []

    def get_device_descriptor(self, dev: int) -> _Descriptor:
        return _Descriptor(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 64,
                "idVendor": self.vendor,
                "idProduct": self.product,
                "bcdDevice": 0x0100,
                "iManufacturer": 0,
                "iProduct": 0,
                "iSerialNumber": 0,
                "bNumConfigurations": 1,
                "address": dev,
                "bus": 1,
                "port_number": 1,
                "port_numbers": (1,),
                "speed": 2,
            }
        )

    def get_configuration_descriptor(self, dev: int, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError(config)
        return _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 32,
                "bNumInterfaces": 1,
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0xC0,
                "bMaxPower": 50,
                "extra_descriptors": [],
            }
        )

    def get_interface_descriptor(self, dev: int, intf: int, alt: int, config: int) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": 2 if self.in_endpoint else 1,
                "bInterfaceClass": self.interface_class,
                "bInterfaceSubClass": 1 if self.interface_class == CLASS_PRINTER else 0,
                "bInterfaceProtocol": 2 if self.interface_class == CLASS_PRINTER else 0,
                "iInterface": 0,
                "extra_descriptors": [],
            }
        )

    def get_endpoint_descriptor(self, dev: int, ep: int, intf: int, alt: int, config: int) -> _Descriptor:
        addresses = [OUT_EP, IN_EP] if self.in_endpoint else [OUT_EP]
        return _Descriptor(
            {
                "bLength": 7,
                "bDescriptorType": 5,
                "bEndpointAddress": addresses[ep],
                "bmAttributes": 0x02,  # bulk
                "wMaxPacketSize": 64,
                "bInterval": 0,
                "bRefresh": 0,
                "bSynchAddress": 0,
                "extra_descriptors": [],
            }
        )

    def open_device(self, dev: int) -> _Handle:
        self._check(_Handle(dev))
        self.opened += 1
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.open = False

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._check(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._check(dev_handle)
        return 1

    def reset_device(self, dev_handle: _Handle) -> None:
        self._check(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._check(dev_handle)
        self.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        self.claimed.discard(intf)
        self._check(dev_handle)

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        self._check(dev_handle)
        assert ep == OUT_EP
        payload = bytes(data)
        if self.stalled:
            self.writes.append(Write(b"", timeout))
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        if self.accept_at_most is not None:
            payload = payload[: self.accept_at_most]
        self.writes.append(Write(payload, timeout))
        if self.answers_dle_eot and self.in_endpoint and _is_status_request(payload):
            self._pending.append(self.dle_eot[payload[2]])
        if self.answers_dle_eot and self.in_endpoint and payload.endswith(b"\x1dr\x01"):
            self._pending.append(0x00)  # GS r 1, answered once the receipt before it was printed: paper in
        return len(payload)

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        self._check(dev_handle)
        assert ep == IN_EP
        self.read_timeouts.append(timeout)
        if not self._pending:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        n = min(len(buff), len(self._pending))
        buff[:n] = array.array("B", self._pending[:n])
        del self._pending[:n]
        return n

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        self._check(dev_handle)
        self.control_requests.append((bmRequestType, bRequest, wValue, wIndex))
        is_port_status = (bmRequestType, bRequest, wValue, wIndex) == (0xA1, 1, 0, 0)
        if not is_port_status or self.port_status is None or self.interface_class != CLASS_PRINTER:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        data[0] = self.port_status
        return 1

    def _check(self, handle: _Handle) -> None:
        # A handle to a device that was unplugged stays dead even after a replug: the kernel gives
        # the device a new address, and the host must find and open it again.
        if not self.plugged or handle.address != self.address:
            raise usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


def _is_status_request(data: bytes) -> bool:
    return len(data) == 3 and data[0] == DLE and data[1] == EOT
