"""Fiscal server emulator: the tax service's /fs protocol and rules, plus a loopback control surface.

Public API
    ``Emulator(state_dir, listen=("127.0.0.1", 0), strict=False)`` — in-process: ``start()``, ``url``,
    ``fs_url``, ``stop()``, context manager. ``main_serve(listen, state_dir, strict)`` — foreground until
    SIGTERM/SIGINT (``fiscal-box emulator``, ``python -m agent.emulator --listen H:P --state DIR``); its
    first line on stdout is ``listening on http://HOST:PORT``.

Modules: ``server`` (HTTP, faults, control surface), ``rules`` (registration, commands, state),
``xmldoc`` (XSD + reading CHECK/ZREP), ``totals`` (shift totals, Z-report check), ``offline`` (control
number, package frames), ``store`` (SQLite/WAL), ``errors`` (ErrorCode replies). The rules share no code
with the agent's document builder, so a misreading of the format is not made twice in agreement.

/fs/doc checks, in order (HTTP 400 unless noted; body ``Код помилки: N Name\\r\\ntext``):
    415 content type; 416 > 200 KB (after Content-Encoding gzip/deflate); 12 CMS invalid / signature
    (strict: any non-DSTU signature); 9 not well-formed / not schema-valid (line + element named);
    1 unknown registrar (HTTP 404); 1 registrar closed (HTTP 400; only ZREP and 101 of the open shift
    pass); 3 TIN ≠ registration; 9 «реєстраційних даних» for IPN / ORGNM / CASHDESKNUM; 2 signer not in
    the registrar's ``operators`` (HTTP 401); 7 ORDERNUM ≠ NextLocalNum; 9 OFFLINE / ORDERTAXNUM on an
    online document, or an online document while an offline session (102 without 103) is pending;
    4 open while open (names registrar + key id); 5 no open shift; 2 signer ≠ the key that opened the
    shift (HTTP 401); 9 test/real mixed in a shift; 6 close when the last shift document is not a ZREP;
    8 second ZREP; 9 sums (CHECKTOTAL/SUM or PARTPAYSUM vs CHECKPAY rows; VAT of SIGN=false rows ±0.01);
    9 storno not of the registrar's last (non-shift, non-storned) document; 9 return whose ORDERRETNUM
    is not a sale of this registrar (skipped when ORDERRETCASHREGNUM names another); 9 ZREP totals
    differing from the emulator's (first difference named).

/fs/pck: outer CMS (12), frames ``<u32 LE length><CMS>``, ≤ 100 documents, ≤ 200 KB; every document is
registered as an offline one (session id, next in-session number, control number, PREVDOCHASH chain
over either the signed CMS or the raw XML, reserve, 36 h / 168 h limits, REVOKELASTONLINEDOC), all or
nothing; a refusal is ``10 PackageValidationError`` naming the 0-based document index and the inner
code. Reply ``OK``, or ``{"OfflineSessionId", "OfflineSeed"}`` of the next session after a 103.
"""

from agent.emulator.server import Emulator, main_serve

__all__ = ["Emulator", "main_serve"]
