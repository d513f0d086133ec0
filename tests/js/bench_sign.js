#!/usr/bin/env node
/*
 * The Node side of bench/sign.py: jkurwa 1.21 signs and verifies attached CAdES-BES SignedData
 * (ДСТУ 4145 / ГОСТ 34.311, no time-stamp) and times itself with process.hrtime, after a warm-up,
 * so Node's start-up and module loading are not counted.
 *
 * stdin: one JSON object
 *   {"curve": "DSTU_PB_257", "d": hex, "cert": hex (DER), "data": hex, "cms": hex,
 *    "runs": N, "warmup": W}
 *   "cms" is a SignedData made elsewhere (by bench/sign.py) over the same data: it is what the
 *   verification loop verifies, so both sides verify the same bytes.
 * stdout: one JSON object
 *   {"node": version, "jkurwa": version, "runs": N,
 *    "sign": {"median_ms", "p99_ms"}, "verify": {"median_ms", "p99_ms"},
 *    "verifies_given": bool,   every verification of "cms" returned true
 *    "given_content_ok": bool, and the content jkurwa read from it is "data"
 *    "cms": hex}               the last SignedData jkurwa made (for the other side to verify)
 * median: the mean of the two middle values for an even count; p99: the nearest-rank value, as
 * bench/common.py's percentile (index round(p / 100 * (n - 1)) of the sorted values).
 *
 * Signing is what a signer does per document: Message construction (message digest, signed
 * attributes, signature, with the signing time from the clock) and as_asn1(); the key and the
 * parsed certificate are made once.  Verification is new Message(der) + verify(hash), as
 * tests/js/cades_peer.js does.
 */
"use strict";
const gost89 = require("gost89");
const jk = require("jkurwa");
const Message = require("jkurwa/lib/models/Message");

const algo = gost89.compat.algos();

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round((p / 100) * (s.length - 1)))];
}

function timed(runs, work) {
  const out = [];
  for (let i = 0; i < runs; i += 1) {
    const start = process.hrtime.bigint();
    work();
    out.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return out;
}

function main(req) {
  const priv = jk.std_curve(req.curve).pkey(req.d, "hex");
  const cert = jk.Certificate.from_asn1(Buffer.from(req.cert, "hex"));
  const data = Buffer.from(req.data, "hex");
  const given = Buffer.from(req.cms, "hex");

  let last = null;
  const sign = () => {
    const msg = new Message({ type: "signedData", cert, data, hash: algo.hash, signer: priv });
    last = msg.as_asn1();
  };
  let allOk = true;
  let contentOk = true;
  const verify = () => {
    const msg = new Message(given);
    if (!msg.verify(algo.hash)) allOk = false;
    if (!Buffer.from(msg.content || []).equals(data)) contentOk = false;
  };

  timed(req.warmup, sign);
  const signMs = timed(req.runs, sign);
  timed(req.warmup, verify);
  const verifyMs = timed(req.runs, verify);
  return {
    node: process.version,
    jkurwa: require("jkurwa/package.json").version,
    runs: req.runs,
    sign: { median_ms: median(signMs), p99_ms: percentile(signMs, 99) },
    verify: { median_ms: median(verifyMs), p99_ms: percentile(verifyMs, 99) },
    verifies_given: allOk,
    given_content_ok: contentOk,
    cms: Buffer.from(last).toString("hex"),
  };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  input += chunk;
});
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(main(JSON.parse(input))));
});
