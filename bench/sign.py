"""The whole qualified signature of a typical 5 KB receipt on m = 257: the CAdES-BES envelope (CMS
included, no time-stamp) made by `DstuSigner.sign` and checked by `verify_cades`, median and p99 over
N runs each (default 200); then, in the same run, the same work done by jkurwa under Node.js
(tests/js/bench_sign.js, timed inside Node after a warm-up, so Node's start-up is not counted), and
the ratios python / jkurwa.

Set-up (not measured): a key and a self-signed m = 257 certificate, made once; the receipt is a real
check01 (`documents.render` of a sale) with as many lines as make it at least 5 KB, windows-1251. Both
sides verify the same envelope (the last one Python made) and both sign with the same key,
certificate and content, the signing time from the clock. Once, as a sanity check: jkurwa's
envelope must verify in Python, and ours in jkurwa, both with the receipt as content.

Without node or tests/js/node_modules (jkurwa, gost89; `npm ci` in tests/js) the Python figures are
printed and the comparison is skipped, saying why.

usage: python bench/sign.py [--runs N] [--warmup N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import TAXES, percentile, timed

from agent.secr import documents as docs
from agent.secr.signing.dstu.cades import CadesError, DstuSigner, verify_cades
from agent.secr.signing.dstu.certificate import make_self_signed
from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.dstu4145 import generate_private_key

JS_DIR = Path(__file__).resolve().parents[1] / "tests" / "js"
PEER = JS_DIR / "bench_sign.js"
RECEIPT_BYTES = 5 * 1024


def receipt() -> bytes:
    """A sale receipt (check01, windows-1251) of the first line count that makes it >= 5 KB."""
    seller = docs.Seller(
        tin="34554362",
        org_name='ТОВ "Бенчмарк"',
        point_name="Магазин №1",
        cash_desk_num=1,
        cash_register_num=4000000001,
        ipn="345543626543",
        point_address="м. Київ, вул. Хрещатик, 1",
    )
    head = docs.DocHead(
        uid="2f1d7a0e-4b7c-4c8e-9d3e-1a2b3c4d5e6f",
        seller=seller,
        when=datetime(2026, 11, 25, 12, 30, tzinfo=UTC),
        order_num=42,
        cashier="Іваненко Марія",
    )
    lines: list[docs.Item] = []
    while True:
        i = len(lines)
        lines.append(
            docs.Item(
                f"Товар №{i} молоко пастеризоване 2,5%",
                Decimal("1.5") if i % 3 else Decimal("2"),
                Decimal("19.99") + i,
                (1 if i % 2 else 2,),
                code=f"{1000 + i}",
                barcode=f"48200000{i:05d}",
                unit_code=2009,
                unit_name="шт",
            )
        )
        payment = docs.Payment(docs.PayForm.CASH, "ГОТІВКА", Decimal("10000.00"))
        xml = docs.render(docs.sale(head, lines, [payment], TAXES))
        if len(xml) >= RECEIPT_BYTES:
            return xml


def peer_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    for package in ("jkurwa", "gost89"):
        if not (JS_DIR / "node_modules" / package).is_dir():
            return f"tests/js/node_modules/{package} is not installed (run `npm ci` in tests/js)"
    return None


def run_peer(request: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [shutil.which("node") or "node", str(PEER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=JS_DIR,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"tests/js/bench_sign.js exited with {proc.returncode}: {tail}")
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def line(label: str, median: float, p99: float, runs: int, note: str = "") -> str:
    return f"{label}: median {median:.2f} ms, p99 {p99:.2f} ms ({runs} runs){note}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs before each loop, both sides")
    args = parser.parse_args()

    content = receipt()
    curve = curve_by_m(257)
    d = generate_private_key(curve)
    now = datetime.now(UTC)
    cert_der = make_self_signed(
        curve,
        d,
        common_name="Бенчмарк Касир",
        serial_number=0x5157,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=365),
    )
    signer = DstuSigner(curve, d, cert_der)  # builds the fixed-base table, as the box does at start

    timed(args.warmup, lambda: signer.sign(content))
    ours: list[bytes] = []
    sign_ms = timed(args.runs, lambda: ours.append(signer.sign(content)))
    der = ours[-1]
    timed(args.warmup, lambda: verify_cades(der))
    verify_ms = timed(args.runs, lambda: verify_cades(der))
    assert verify_cades(der).content == content

    py_sign = (statistics.median(sign_ms), percentile(sign_ms, 99))
    py_verify = (statistics.median(verify_ms), percentile(verify_ms, 99))
    print(
        f"receipt: check01 sale, {len(content)} bytes windows-1251; CAdES-BES attached, m = 257, "
        f"no time-stamp; envelope {len(der)} bytes"
    )
    print(line("python sign (DstuSigner.sign)", *py_sign, args.runs, " (target: median < 20, p99 < 40)"))
    print(line("python verify (verify_cades)", *py_verify, args.runs))

    missing = peer_missing()
    if missing is not None:
        print(f"jkurwa comparison skipped: {missing}")
        return
    try:
        peer = run_peer(
            {
                "curve": "DSTU_PB_257",
                "d": format(d, "x"),
                "cert": cert_der.hex(),
                "data": content.hex(),
                "cms": der.hex(),
                "runs": args.runs,
                "warmup": args.warmup,
            }
        )
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        print(f"jkurwa comparison failed: {exc}")
        sys.exit(1)
    jk_sign = (peer["sign"]["median_ms"], peer["sign"]["p99_ms"])
    jk_verify = (peer["verify"]["median_ms"], peer["verify"]["p99_ms"])
    where = f"jkurwa {peer['jkurwa']}, node {peer['node']}"
    print(line(f"jkurwa sign ({where})", *jk_sign, peer["runs"]))
    print(line(f"jkurwa verify ({where})", *jk_verify, peer["runs"]))
    print(
        f"ratio python/jkurwa: sign median {py_sign[0] / jk_sign[0]:.2f}, p99 {py_sign[1] / jk_sign[1]:.2f}; "
        f"verify median {py_verify[0] / jk_verify[0]:.2f}, p99 {py_verify[1] / jk_verify[1]:.2f}"
    )

    try:
        theirs = verify_cades(bytes.fromhex(peer["cms"]))
        jk_in_python = "yes" if theirs.content == content else "NO (verifies, but with another content)"
    except CadesError as exc:
        jk_in_python = f"NO ({exc})"
    ours_in_jk = (
        "yes"
        if peer["verifies_given"] and peer["given_content_ok"]
        else f"NO (verify ok: {peer['verifies_given']}, content ok: {peer['given_content_ok']})"
    )
    print(
        f"sanity: jkurwa's envelope verifies in Python: {jk_in_python}; ours verifies in jkurwa: {ours_in_jk}"
    )
    if jk_in_python != "yes" or ours_in_jk != "yes":
        sys.exit(1)


if __name__ == "__main__":
    main()
