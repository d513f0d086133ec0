"""The fiscal server client's error mapping, over real sockets against a canned HTTP server."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from agent.secr.errors import (
    CryptographyRejected,
    DocumentRejected,
    InvalidServerReply,
    NeedsPerson,
    RegistrarNotAvailable,
    RetryLater,
    ServerStateMismatch,
    ServerTimeout,
    ServerUnavailable,
    ServerUnreachable,
)
from agent.secr.server import FiscalServerClient, frame_package, parse_ticket, rejection
from agent.secr.signing import DevSigner
from tests.httpstub import Served

Reply = Callable[[BaseHTTPRequestHandler], None]


class Canned:
    def __init__(self) -> None:
        self.reply: Reply = lambda h: None
        self.requests: list[tuple[str, str, bytes]] = []


@pytest.fixture()
def canned() -> Iterator[tuple[Canned, str]]:
    state = Canned()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append((self.path, self.headers.get("Content-Type", ""), body))
            state.reply(self)

        def log_message(self, *args: object) -> None:
            pass

    served = Served(Handler)
    yield state, served.url
    served.close()


def respond(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def client(url: str, timeout: float = 2.0) -> FiscalServerClient:
    return FiscalServerClient(url, DevSigner.generate(), timeout_s=timeout, connect_timeout_s=timeout)


@pytest.mark.parametrize(
    ("code", "name", "kind"),
    [
        (9, "DocumentValidationError", DocumentRejected),
        (10, "PackageValidationError", DocumentRejected),
        (12, "CryptographyError", CryptographyRejected),
        (1, "TransactionsRegistrarAbsent", RegistrarNotAvailable),
        (2, "OperatorAccessToTransactionsRegistrarNotGranted", RegistrarNotAvailable),
        (7, "CheckLocalNumberInvalid", ServerStateMismatch),
        (4, "ShiftAlreadyOpened", ServerStateMismatch),
    ],
)
def test_refusals_map_to_needs_person(
    canned: tuple[Canned, str], code: int, name: str, kind: type[Exception]
) -> None:
    state, url = canned
    state.reply = respond(400, f"Код помилки: {code} {name}\r\nПояснення українською".encode())
    with pytest.raises(kind) as info:
        client(url).send_document(b"signed")
    err = info.value
    assert isinstance(err, NeedsPerson)
    assert err.error_code == code and err.error_name == name  # type: ignore[attr-defined]
    assert "Пояснення українською" in str(err)
    path, content_type, body = state.requests[0]
    assert path == "/fs/doc" and content_type == "application/octet-stream" and body == b"signed"


def test_5xx_is_retry_later(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = respond(503, b"busy")
    with pytest.raises(ServerUnavailable) as info:
        client(url).server_state()
    assert isinstance(info.value, RetryLater) and info.value.http_status == 503


def test_timeout_is_retry_later_and_a_timeout_error(canned: tuple[Canned, str]) -> None:
    state, url = canned

    def slow(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        respond(200, b"{}", "application/json")(handler)

    state.reply = slow
    with pytest.raises(ServerTimeout) as info:
        client(url, timeout=0.2).server_state()
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, RetryLater)


def test_refused_connection_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerUnreachable) as info:
        client(f"http://127.0.0.1:{port}/fs").server_state()
    assert isinstance(info.value, ConnectionError)


def test_connection_closed_without_reply_is_unreachable(canned: tuple[Canned, str]) -> None:
    state, url = canned

    def hang_up(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    state.reply = hang_up
    with pytest.raises(RetryLater):
        client(url).send_document(b"x")


def test_204_means_nothing_found(canned: tuple[Canned, str]) -> None:
    state, url = canned

    def no_content(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(204)
        handler.end_headers()

    state.reply = no_content
    assert client(url).document_info_by_local_num("4000000001", 5) is None
    # a signed command goes as CMS
    assert state.requests[0][1] == "application/octet-stream"


def test_unsigned_commands_go_as_json(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = respond(200, b'{"UID": "x", "Timestamp": "2026-11-25T12:00:00+02:00"}', "application/json")
    answer = client(url).server_state()
    assert answer.timestamp is not None and answer.timestamp.startswith("2026")
    assert state.requests[0][1] == "application/json"


def test_garbage_ticket_is_invalid_reply(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = respond(200, b"not a cms", "application/octet-stream")
    with pytest.raises(InvalidServerReply):
        client(url).send_document(b"x")


def test_ticket_with_error_code_is_a_refusal(canned: tuple[Canned, str]) -> None:
    state, url = canned
    ticket = (
        '<?xml version="1.0" encoding="windows-1251"?><TICKET><UID>u</UID><ORDERNUM>3</ORDERNUM>'
        "<ERRORCODE>9</ERRORCODE><ERRORTEXT>погано</ERRORTEXT><VER>1</VER></TICKET>"
    ).encode("cp1251")
    state.reply = respond(200, DevSigner.generate().sign(ticket), "application/octet-stream")
    with pytest.raises(DocumentRejected) as info:
        client(url).send_document(b"x")
    assert info.value.error_code == 9


def test_ticket_parsed() -> None:
    ticket = (
        '<?xml version="1.0" encoding="windows-1251"?><TICKET><UID>u</UID><ORDERDATE>25112026</ORDERDATE>'
        "<ORDERTIME>120000</ORDERTIME><ORDERNUM>3</ORDERNUM><ORDERTAXNUM>100001</ORDERTAXNUM>"
        "<OFFLINESESSIONID>5008</OFFLINESESSIONID><OFFLINESEED>179625192271939</OFFLINESEED>"
        "<ERRORCODE>0</ERRORCODE><VER>1</VER></TICKET>"
    ).encode("cp1251")
    parsed = parse_ticket(DevSigner.generate().sign(ticket))
    assert (parsed.order_num, parsed.fiscal_num, parsed.offline_session_id, parsed.offline_seed) == (
        3,
        "100001",
        "5008",
        "179625192271939",
    )


def test_package_replies(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = respond(200, b"OK")
    reply = client(url).send_package([b"one", b"two-two"])
    assert reply.next_offline_session_id is None
    state.reply = respond(
        200, b'{"OfflineSessionId": 5009, "OfflineSeed": 123456789012345}', "application/json"
    )
    reply = client(url).send_package([b"one"])
    assert (reply.next_offline_session_id, reply.next_offline_seed) == ("5009", "123456789012345")


def test_package_framing_vector() -> None:
    """Reference §9.2."""
    assert frame_package([b"one", b"two-two"]) == b"\x03\x00\x00\x00one\x07\x00\x00\x00two-two"


def test_rejection_without_code() -> None:
    err = rejection(404, "not found")
    assert isinstance(err, RegistrarNotAvailable) and err.error_code is None


# --- typed replies -----------------------------------------------------------------------------------


def json_reply(data: object) -> Reply:
    return respond(200, json.dumps(data).encode(), "application/json")


def test_registrar_state_is_parsed_once(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = json_reply(
        {
            "UID": "x",
            "ShiftState": 1,
            "NextLocalNum": "17",  # servers mix strings and numbers
            "OfflineSupported": True,
            "OfflineSessionId": 5008,
            "OfflineSeed": "179625192271939",
            "OfflineNextLocalNum": 3,
            "OfflineSessionsMonthlyDuration": 95,
            "Closed": False,
            "TaxObject": {
                "Tin": 34554362,
                "Ipn": "345543620000",
                "OrgName": 'ТОВ "ТЕСТ"',
                "Name": "Магазин",
                "Address": "Київ",
                "TransactionsRegistrars": [
                    {"NumFiscal": 4000000002, "NumLocal": 2, "Name": "Каса 2", "Closed": True},
                    {"NumFiscal": "4000000001", "NumLocal": "1", "Name": "Каса 1", "Closed": False},
                ],
            },
        }
    )
    reply = client(url).registrar_state("4000000001", include_tax_object=True)
    assert reply is not None and not reply.empty
    assert (reply.next_local_num, reply.shift_open, reply.offline_supported) == (17, True, True)
    assert (reply.offline_session_id, reply.offline_seed, reply.offline_next_local_num) == (
        "5008",
        "179625192271939",
        3,
    )
    assert reply.offline_sessions_monthly_duration == 95 and not reply.closed
    assert not reply.reports_offline_session_reserve  # absent: the server hands out no reserve
    assert reply.tax_object is not None and reply.tax_object.tin == "34554362"
    ours = reply.tax_object.registrar("4000000001")
    assert ours is not None and (ours.num_local, ours.closed) == (1, False)
    assert reply.tax_object.registrar("4000000002").closed  # type: ignore[union-attr]


def test_reserve_present_null_differs_from_absent(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = json_reply({"OfflineSessionReserve": None})
    unlimited = client(url).registrar_state("4000000001")
    assert unlimited is not None and unlimited.reports_offline_session_reserve
    assert unlimited.offline_session_reserve is None
    state.reply = json_reply({"OfflineSessionReserve": 5})
    finite = client(url).registrar_state("4000000001")
    assert finite is not None and (
        finite.reports_offline_session_reserve,
        finite.offline_session_reserve,
    ) == (
        True,
        5,
    )


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        ([1, 2, 3], "not a JSON object"),  # a list where an object belongs
        ({"NextLocalNum": "seventeen"}, "NextLocalNum"),
        ({"NextLocalNum": [17]}, "NextLocalNum"),
        ({"NextLocalNum": True}, "NextLocalNum"),
        ({"ShiftState": {"open": 1}}, "ShiftState"),
        ({"OfflineSessionId": [5008]}, "OfflineSessionId"),
        ({"OfflineSupported": "yes"}, "OfflineSupported"),
        ({"OfflineSessionReserve": "many"}, "OfflineSessionReserve"),
        ({"TaxObject": [1]}, "TaxObject"),
        ({"TaxObject": {"TransactionsRegistrars": {"NumFiscal": 1}}}, "TransactionsRegistrars"),
        ({"TaxObject": {"TransactionsRegistrars": ["4000000001"]}}, "TransactionsRegistrars[0]"),
        ({"TaxObject": {"TransactionsRegistrars": [{"NumLocal": "one"}]}}, "NumLocal"),
    ],
)
def test_a_registrar_state_of_the_wrong_shape_is_an_invalid_reply(
    canned: tuple[Canned, str], reply: object, named: str
) -> None:
    state, url = canned
    state.reply = json_reply(reply)
    with pytest.raises(InvalidServerReply, match=re.escape(named)):
        client(url).registrar_state("4000000001", include_tax_object=True)


def test_document_info_is_typed(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = json_reply(
        {"NumFiscal": 100042, "DocClass": 0, "CheckDocType": "SaleGoods", "Revoked": False}
    )
    info = client(url).document_info_by_local_num("4000000001", 5)
    assert info is not None and info.num_fiscal == "100042"
    assert (info.doc_class, info.check_doc_type, info.revoked, info.storned) == (0, "SaleGoods", False, None)
    state.reply = json_reply({"NumFiscal": "100042", "Revoked": {"odd": True}})  # shown, never decided on
    info = client(url).document_info_by_local_num("4000000001", 5)
    assert info is not None and info.num_fiscal == "100042" and info.revoked is None
    state.reply = json_reply({"NumFiscal": {"value": 1}})
    with pytest.raises(InvalidServerReply, match="NumFiscal"):
        client(url).document_info_by_local_num("4000000001", 5)
    state.reply = json_reply(["100042"])
    with pytest.raises(InvalidServerReply, match="not a JSON object"):
        client(url).document_info_by_local_num("4000000001", 5)


def test_a_package_reply_of_the_wrong_shape_is_an_invalid_reply(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = respond(200, b'{"OfflineSessionId": [5009]}', "application/json")
    with pytest.raises(InvalidServerReply, match="OfflineSessionId"):
        client(url).send_package([b"one"])


# --- replies that are not the protocol's (issue 9, scenarios 4 and 6) ----------------------------------

MAINTENANCE = b"<!DOCTYPE html><html><head><title>Technical works</title></head><body>Back soon</body></html>"


def ticket_of(**fields: str) -> bytes:
    body = "".join(f"<{tag}>{value}</{tag}>" for tag, value in fields.items())
    xml = f'<?xml version="1.0" encoding="windows-1251"?><TICKET>{body}<VER>1</VER></TICKET>'
    return DevSigner.generate().sign(xml.encode("cp1251"))


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (respond(200, MAINTENANCE, "text/html; charset=utf-8"), "Technical works"),
        (respond(200, MAINTENANCE, "application/octet-stream"), "HTML page"),  # a proxy that mislabels it
        (respond(302, b"", "text/plain"), "HTTP 302"),  # a captive portal's redirect
        (respond(201, b"OK"), "HTTP 201"),
    ],
)
@pytest.mark.parametrize("call", ["command", "document", "package"])
def test_a_reply_that_is_not_the_protocols_is_retry_later(
    canned: tuple[Canned, str], reply: Reply, said: str, call: str
) -> None:
    state, url = canned
    state.reply = reply
    box = client(url)
    actions: dict[str, Callable[[], object]] = {
        "command": lambda: box.registrar_state("4000000001"),
        "document": lambda: box.send_document(b"signed"),
        "package": lambda: box.send_package([b"one"]),
    }
    with pytest.raises(InvalidServerReply, match=said) as info:
        actions[call]()
    # For going offline the server is as good as unreachable; the document may have arrived.
    assert isinstance(info.value, RetryLater) and info.value.request_sent


def test_an_empty_package_reply_is_not_an_acceptance(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = respond(200, b"")
    with pytest.raises(InvalidServerReply):
        client(url).send_package([b"one"])


def test_a_body_that_is_not_what_its_encoding_says_is_an_invalid_reply(canned: tuple[Canned, str]) -> None:
    state, url = canned

    def fake_gzip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", "9")
        handler.end_headers()
        handler.wfile.write(b"not gzip!")

    state.reply = fake_gzip
    with pytest.raises(InvalidServerReply, match="decoded"):
        client(url).server_state()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"ORDERNUM": "three"}, "ORDERNUM"),
        ({"ORDERNUM": "3", "ERRORCODE": "x"}, "ERRORCODE"),
        ({"ORDERNUM": "9" * 5000}, "ORDERNUM"),
        ({"ORDERNUM": "3", "OFFLINESEED": "сім"}, "OFFLINESEED"),
    ],
)
def test_a_ticket_with_a_non_number_is_an_invalid_reply(
    canned: tuple[Canned, str], fields: dict[str, str], named: str
) -> None:
    state, url = canned
    state.reply = respond(200, ticket_of(UID="u", **fields), "application/octet-stream")
    with pytest.raises(InvalidServerReply, match=named):
        client(url).send_document(b"signed")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (json.dumps({"NextLocalNum": "9" * 5000}).encode(), "NextLocalNum"),
        (b'{"NextLocalNum": 1e300}', "NextLocalNum"),
        (b'{"OfflineSessionsMonthlyDuration": 1e300}', "OfflineSessionsMonthlyDuration"),
        (b'{"OfflineSessionsMonthlyDuration": 99999999999999999}', "OfflineSessionsMonthlyDuration"),
        (b'{"OfflineSeed": "not digits"}', "OfflineSeed"),
        (b'{"OfflineSessionId": "5008.1"}', "OfflineSessionId"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_a_registrar_state_with_values_no_counter_has_is_an_invalid_reply(
    canned: tuple[Canned, str], body: bytes, named: str
) -> None:
    state, url = canned
    state.reply = respond(200, body, "application/json")
    with pytest.raises(InvalidServerReply, match=named):
        client(url).registrar_state("4000000001")


def test_documents_of_the_wrong_shape_is_an_invalid_reply(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.reply = json_reply({"Documents": 7})
    with pytest.raises(InvalidServerReply, match="Documents"):
        client(url).documents("4000000001")
