"""The qualified-signature primitives on m = 257: ГОСТ 34.311 of a 5 KB receipt, ДСТУ 4145 signing and
verification of its digest; median and p99 over N runs (default 200). (`bench/sign.py`, the whole CMS
envelope compared with jkurwa, comes with the CAdES work of issue 5.)

usage: python bench/dstu_primitives.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import percentile, timed

from agent.secr.signing.dstu.curve import curve_by_m
from agent.secr.signing.dstu.dstu4145 import generate_private_key, public_key, sign_digest, verify_digest
from agent.secr.signing.dstu.gost89 import gost34311


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    receipt = os.urandom(5 * 1024)
    curve = curve_by_m(257)
    d = generate_private_key(curve)
    q = public_key(curve, d)
    digest = gost34311(receipt)
    sign_digest(curve, d, digest)  # builds the fixed-base table once, as the signer does at start
    signature = sign_digest(curve, d, digest)
    results = {
        "ГОСТ 34.311 of 5 KB": timed(args.runs, lambda: gost34311(receipt)),
        "ДСТУ 4145 sign (m = 257)": timed(args.runs, lambda: sign_digest(curve, d, digest)),
        "ДСТУ 4145 verify (m = 257)": timed(args.runs, lambda: verify_digest(curve, q, digest, signature)),
    }
    for label, values in results.items():
        print(
            f"{label}: median {statistics.median(values):.2f} ms, p99 {percentile(values, 99):.2f} ms ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()
