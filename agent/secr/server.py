"""Client of the tax service's fiscal server: /cmd, /doc, /pck (reference §1, §2, §4.8, §5).

Every failure leaves here as one of the kinds in ``errors``: retry later (network, timeouts, 5xx),
needs a person (validation, cryptography, registrar), and the server's own code and text kept. The
commands the register relies on answer typed replies (``replies``), parsed once here.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from lxml import etree

from agent.secr import clockcheck, replies, sync
from agent.secr.errors import (
    CryptographyRejected,
    DocumentRejected,
    InvalidServerReply,
    RegistrarNotAvailable,
    ServerRejected,
    ServerStateMismatch,
    ServerTimeout,
    ServerUnavailable,
    ServerUnreachable,
)
from agent.secr.replies import DocumentInfo, RegistrarState, ServerState
from agent.secr.signing.base import Signer
from agent.secr.signing.cms import CmsError
from agent.secr.signing.verify import verify_signed

MAX_REQUEST_BYTES = sync.MAX_REQUEST_BYTES
UNSIGNED_COMMANDS = frozenset({"ServerState", "Check", "CheckExt"})

_ERROR_RE = re.compile(r"Код помилки:\s*(\d{1,9})\s*([A-Za-z]*)")
_TICKET_NUMBER = re.compile(r"\s*\d{1,18}\s*")
_TICKET_IDENTIFIER = re.compile(r"\d{1,40}")

_ERROR_NAMES = {
    1: "TransactionsRegistrarAbsent",
    2: "OperatorAccessToTransactionsRegistrarNotGranted",
    3: "InvalidTin",
    4: "ShiftAlreadyOpened",
    5: "ShiftNotOpened",
    6: "LastDocumentMustBeZRep",
    7: "CheckLocalNumberInvalid",
    8: "ZRepAlreadyRegistered",
    9: "DocumentValidationError",
    10: "PackageValidationError",
    11: "InvalidQueryParameter",
    12: "CryptographyError",
}

_WHAT_TO_DO = {
    DocumentRejected: "the document was refused as invalid: call support with the document number and this text",
    CryptographyRejected: "the signature was refused: check the signing key and certificate",
    RegistrarNotAvailable: "check the register's fiscal number and that the key's owner is a cashier of it "
    "(form 5-ПРРО) in the tax cabinet",
    ServerStateMismatch: "the box re-reads the server's state; if this repeats, call support",
    ServerRejected: "call support with this text",
}


@dataclass(frozen=True)
class Ticket:
    """The server's receipt for one registered document (ticket01.xsd)."""

    uid: str | None
    order_num: int | None
    fiscal_num: str | None
    order_date: str | None
    order_time: str | None
    offline_session_id: str | None
    offline_seed: str | None
    error_code: int
    error_text: str | None
    raw_xml: bytes
    signed: bytes


@dataclass(frozen=True)
class PackageReply:
    """``OK`` for a package without 103; the next session's id and seed for the one with it."""

    next_offline_session_id: str | None
    next_offline_seed: str | None
    raw: bytes


def frame_package(documents: Iterable[bytes]) -> bytes:
    """Offline package: each signed document prefixed by its 4-byte little-endian length."""
    return b"".join(struct.pack("<I", len(doc)) + doc for doc in documents)


def _text(root: etree._Element, tag: str) -> str | None:
    el = root.find(tag)
    return el.text if el is not None and el.text is not None else None


def _ticket_number(root: etree._Element, tag: str) -> int | None:
    value = _text(root, tag)
    if value is None or not value.strip():
        return None
    if not _TICKET_NUMBER.fullmatch(value):
        raise InvalidServerReply(f"the server's ticket: {tag} is not a number: {value[:40]!r}")
    return int(value)


def _ticket_identifier(root: etree._Element, tag: str) -> str | None:
    # A session id or seed goes into offline fiscal and control numbers: digits only (reference §4.3).
    value = _text(root, tag)
    if value is None or not value.strip():
        return None
    if not _TICKET_IDENTIFIER.fullmatch(value.strip()):
        raise InvalidServerReply(f"the server's ticket: {tag} is not a number: {value[:40]!r}")
    return value.strip()


def parse_ticket(signed: bytes) -> Ticket:
    try:
        verified = verify_signed(signed)
    except CmsError as exc:
        raise InvalidServerReply(f"the server's ticket is not a valid signed document: {exc}") from exc
    except Exception as exc:  # the verifiers raise many types on what is not a signed document at all
        raise InvalidServerReply(
            f"the server's ticket is not a signed document: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        root = etree.fromstring(verified.content)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise InvalidServerReply(f"the server's ticket is not XML: {exc}") from exc
    return Ticket(
        uid=_text(root, "UID"),
        order_num=_ticket_number(root, "ORDERNUM"),
        fiscal_num=_text(root, "ORDERTAXNUM"),
        order_date=_text(root, "ORDERDATE"),
        order_time=_text(root, "ORDERTIME"),
        offline_session_id=_ticket_identifier(root, "OFFLINESESSIONID"),
        offline_seed=_ticket_identifier(root, "OFFLINESEED"),
        error_code=_ticket_number(root, "ERRORCODE") or 0,
        error_text=_text(root, "ERRORTEXT"),
        raw_xml=verified.content,
        signed=signed,
    )


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def not_the_protocol(path: str, response: httpx.Response) -> InvalidServerReply:
    """A reply that no fiscal server gives (reference §1.4): a maintenance page, a captive portal, a proxy.

    For going offline the server is then as good as unreachable; a /doc or /pck it answered so may
    still have been registered, which the lost-reply rules settle (InvalidServerReply keeps
    ``request_sent``)."""
    title = re.search(rb"<title[^>]*>(.{0,80}?)</title>", response.content, re.IGNORECASE | re.DOTALL)
    shown = title.group(1) if title else response.content[:80]
    text = " ".join(shown.decode("utf-8", "replace").split())
    kind = "an HTML page" if _is_html(response) else f"HTTP {response.status_code}"
    return InvalidServerReply(
        f"the fiscal server's address answered {path} with {kind}, not the tax service's protocol"
        f"{f': {text!r}' if text else ''}",
        what_to_do="the box treats the server as unreachable and retries; if this lasts, check the network"
        " (a proxy or a captive portal?) or call support",
    )


def rejection(http_status: int, body: str) -> ServerRejected:
    """Map a refusal (HTTP 4xx text body, or a ticket's ERRORCODE) onto the exception tree."""
    match = _ERROR_RE.search(body)
    code = int(match.group(1)) if match else None
    name = (match.group(2) if match and match.group(2) else None) or _ERROR_NAMES.get(code or -1)
    text = body.split("\n", 1)[1].strip() if match and "\n" in body else body.strip()
    kind: type[ServerRejected]
    if code in (9, 10) or http_status in (415, 416):
        kind = DocumentRejected
    elif code == 12:
        kind = CryptographyRejected
    elif code in (1, 2) or http_status in (401, 404):
        kind = RegistrarNotAvailable
    elif code in (3, 4, 5, 6, 7, 8):
        kind = ServerStateMismatch
    else:
        kind = ServerRejected
    label = f"{code} {name}" if code is not None else f"HTTP {http_status}"
    return kind(
        f"the fiscal server refused: {label}: {text or '(no text)'}",
        http_status=http_status,
        error_code=code,
        error_name=name,
        server_text=text,
        what_to_do=_WHAT_TO_DO[kind],
    )


class FiscalServerClient:
    def __init__(
        self,
        base_url: str,
        signer: Signer,
        *,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self._timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._http = httpx.Client(timeout=self._timeout, transport=transport, trust_env=False)
        #: called with every HTTP response (benchmarks read the emulator's own timing header)
        self.on_response: Callable[[httpx.Response], None] | None = None
        #: told the server's own time, and the request's round trip in seconds, by every reply that states
        #: it: each /cmd reply's "Timestamp", each ticket's ORDERDATE/ORDERTIME (agent/secr/clockcheck.py)
        self.on_server_time: Callable[[datetime, float], None] | None = None
        #: told whether the server took the signature of a signed request: None, it did; else its refusal
        #: (error 12), for the status's "signing fails" (agent/secr/context.py)
        self.on_signature: Callable[[str | None], None] | None = None
        self._package_envelope: int | None = None
        #: the last reply that was not the protocol's, until the next exchange that ends otherwise: the
        #: box takes such a server for unreachable, and the agent's status says why
        self.invalid_reply: InvalidServerReply | None = None

    @contextmanager
    def _watch(self, *, signed: bool = True) -> Iterator[None]:
        try:
            yield
        except InvalidServerReply as exc:
            self.invalid_reply = exc
            raise
        except CryptographyRejected as exc:
            self.invalid_reply = None
            self._signature(str(exc))
            raise
        except BaseException:
            self.invalid_reply = None
            raise
        self.invalid_reply = None
        if signed:
            self._signature(None)

    def _signature(self, refusal: str | None) -> None:
        if self.on_signature is not None:
            self.on_signature(refusal)

    def close(self) -> None:
        self._http.close()

    @property
    def package_envelope(self) -> int:
        """What the signature of a package adds to its frames, at most: measured once on this signer."""
        if self._package_envelope is None:
            self._package_envelope = sync.signature_overhead(self.signer.sign)
        return self._package_envelope

    # --- transport --------------------------------------------------------------------------

    def _post(
        self, path: str, body: bytes, content_type: str, *, timeout: float | None = None
    ) -> httpx.Response:
        if len(body) > MAX_REQUEST_BYTES:
            # What the server would answer (HTTP 416, reference §1.2), without sending it.
            raise DocumentRejected(
                f"the request of {len(body)} bytes is over the fiscal server's 200 KB limit",
                http_status=416,
                error_code=None,
                error_name=None,
                server_text="",
                what_to_do="a package is sent again in smaller ones; a document this large is never made",
            )
        url = f"{self.base_url}/{path}"
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout)
        try:
            response = self._http.post(url, content=body, headers={"Content-Type": content_type}, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            unreachable = ServerUnreachable(
                f"the fiscal server cannot be reached at {url}: {exc or type(exc).__name__}",
                what_to_do="the box retries; check the internet connection",
            )
            unreachable.request_sent = False
            raise unreachable from exc
        except httpx.TimeoutException as exc:
            raise ServerTimeout(
                f"the fiscal server did not answer {path} in time ({type(exc).__name__})",
                what_to_do="the box retries; check the internet connection",
            ) from exc
        except httpx.DecodingError as exc:
            # Content-Encoding says gzip and the body is not: somebody else's reply (reference §1.2).
            raise InvalidServerReply(f"the reply to {path} cannot be decoded: {exc}") from exc
        except (httpx.HTTPError, OSError) as exc:
            raise ServerUnreachable(
                f"the fiscal server cannot be reached at {url}: {exc or type(exc).__name__}",
                what_to_do="the box retries; check the internet connection",
            ) from exc
        if self.on_response is not None:
            self.on_response(response)
        if response.status_code >= 500:
            raise ServerUnavailable(
                f"the fiscal server answered HTTP {response.status_code} on {path}",
                http_status=response.status_code,
                what_to_do="the box retries",
            )
        if response.status_code >= 400:
            raise rejection(response.status_code, response.content.decode("utf-8", "replace"))
        if response.status_code not in (200, 204) or _is_html(response):
            raise not_the_protocol(path, response)
        return response

    def _heard_time(self, when: datetime | None, response: httpx.Response) -> None:
        if when is None or self.on_server_time is None:
            return
        try:
            round_trip = response.elapsed.total_seconds()
        except RuntimeError:  # a response not read through the client has no elapsed time
            round_trip = 0.0
        self.on_server_time(when, round_trip)

    # --- /cmd -------------------------------------------------------------------------------

    def command(self, name: str, *, timeout: float | None = None, **fields: Any) -> dict[str, Any] | None:
        """Run a JSON command; None when the server has nothing (HTTP 204)."""
        with self._watch(signed=name not in UNSIGNED_COMMANDS):
            return self._command(name, timeout=timeout, **fields)

    def _command(self, name: str, *, timeout: float | None, **fields: Any) -> dict[str, Any] | None:
        payload = {"Command": name, "UID": str(uuid.uuid4()), **fields}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if name in UNSIGNED_COMMANDS:
            response = self._post("cmd", body, "application/json", timeout=timeout)
        else:
            response = self._post("cmd", self.signer.sign(body), "application/octet-stream", timeout=timeout)
        if response.status_code == 204 or not response.content:
            return None
        try:
            data = response.json()
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested past the parser's depth
            raise InvalidServerReply(f"{name}: the server's reply is not JSON") from exc
        if not isinstance(data, dict):
            raise InvalidServerReply(f"{name}: the server's reply is not a JSON object")
        self._heard_time(clockcheck.parse_timestamp(data.get("Timestamp")), response)
        return data

    def server_state(self, *, timeout: float | None = None) -> ServerState:
        with self._watch():
            return replies.server_state(self.command("ServerState", timeout=timeout) or {})

    def registrar_state(
        self,
        num_fiscal: str,
        *,
        include_tax_object: bool = False,
        offline_session_id: str | None = None,
        offline_seed: str | None = None,
    ) -> RegistrarState | None:
        """None when the server does not know the register (HTTP 204)."""
        fields: dict[str, Any] = {"NumFiscal": num_fiscal, "IncludeTaxObject": include_tax_object}
        if offline_session_id is not None:
            fields["OfflineSessionId"] = offline_session_id
            fields["OfflineSeed"] = offline_seed
        with self._watch():
            data = self.command("TransactionsRegistrarState", **fields)
            return None if data is None else replies.registrar_state(data)

    def document_info_by_local_num(self, num_fiscal: str, num_local: int) -> DocumentInfo | None:
        """None when the server has no document under that local number (HTTP 204)."""
        with self._watch():
            data = self.command("DocumentInfoByLocalNum", NumFiscal=num_fiscal, NumLocal=num_local)
            return None if data is None else replies.document_info(data)

    def last_shift_totals(self, num_fiscal: str) -> dict[str, Any] | None:
        return self.command("LastShiftTotals", NumFiscal=num_fiscal)

    def documents(self, num_fiscal: str, *, shift_id: int | None = None) -> list[Mapping[str, Any]]:
        reply = self.command("Documents", NumFiscal=num_fiscal, ShiftId=shift_id)
        found = (reply or {}).get("Documents") or []
        if not isinstance(found, list) or not all(isinstance(d, Mapping) for d in found):
            raise InvalidServerReply("Documents: Documents is not a list of objects")
        return found

    # --- /doc and /pck ----------------------------------------------------------------------

    def send_document(self, signed: bytes) -> Ticket:
        with self._watch():
            return self._send_document(signed)

    def _send_document(self, signed: bytes) -> Ticket:
        response = self._post("doc", signed, "application/octet-stream")
        ticket = parse_ticket(response.content)
        self._heard_time(clockcheck.ticket_time(ticket.order_date, ticket.order_time), response)
        if ticket.error_code:
            raise rejection(
                response.status_code, f"Код помилки: {ticket.error_code}\n{ticket.error_text or ''}"
            )
        return ticket

    def send_package(self, signed_documents: Iterable[bytes]) -> PackageReply:
        with self._watch():
            return self._send_package(self.signer.sign(frame_package(signed_documents)))

    def _send_package(self, body: bytes) -> PackageReply:
        response = self._post("pck", body, "application/octet-stream")
        raw = response.content
        text = raw.strip()
        if text == b"OK":
            return PackageReply(None, None, raw)
        if not text:
            # Not "OK" (reference §4.8): an empty 200 is somebody else's, and taking it for an acceptance
            # would mark documents delivered that the server may never have seen.
            raise not_the_protocol("pck", response)
        if text.startswith(b"{"):
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise InvalidServerReply("the package reply is not valid JSON") from exc
            session_id, seed = replies.next_range(data)
            return PackageReply(session_id, seed, raw)
        ticket = parse_ticket(raw)  # a 2025-era server answers with a signed TICKET
        if ticket.error_code:
            raise rejection(
                response.status_code, f"Код помилки: {ticket.error_code}\n{ticket.error_text or ''}"
            )
        return PackageReply(ticket.offline_session_id, ticket.offline_seed, raw)


__all__ = [
    "DocumentInfo",
    "FiscalServerClient",
    "PackageReply",
    "RegistrarState",
    "ServerState",
    "Ticket",
    "frame_package",
    "parse_ticket",
    "rejection",
]
