#!/usr/bin/env node
/*
 * ДСТУ 4145 reference peer for tests/test_dstu4145.py: signs and verifies with jkurwa.
 *
 * stdin: a JSON array of requests; stdout: a JSON array of answers, in order.
 *   {"op": "sign",   "curve": C, "d": hex, "hash": hex}
 *     -> {"sig_le": hex, "r": hex, "s": hex, "pub_le": hex, "pub_x": hex, "pub_y": hex}
 *   {"op": "verify", "curve": C, "pub_le": hex, "hash": hex, "sig_le": hex} -> {"ok": bool}
 * C = {"name", "m", "ks": [..], "a", "b", "n", "cofactor", "x", "y"} (hex strings, big-endian).
 * Curves jkurwa ships (DSTU_PB_257, DSTU_PB_431) are taken from jkurwa itself, so the test
 * also checks our transcription of their parameters.
 * "hash" is the hash value exactly as bytes (jkurwa reads it little-endian).
 */
"use strict";
const jk = require("jkurwa");

const curves = {};

function curveFor(c) {
  if (curves[c.name]) return curves[c.name];
  let curve;
  if (jk.standard[c.name]) {
    curve = jk.std_curve(c.name);
  } else {
    curve = new jk.Curve({
      m: c.m,
      ks: c.ks,
      a: c.a,
      b: c.b,
      order: c.n,
      kofactor: [c.cofactor],
      base: { x: c.x, y: c.y },
    });
  }
  curves[c.name] = curve;
  return curve;
}

function hexOf(field) {
  const s = field.toString(true);
  return s === "" ? "0" : s;
}

function handle(req) {
  const curve = curveFor(req.curve);
  const hash = Buffer.from(req.hash, "hex");
  if (req.op === "sign") {
    const priv = curve.pkey(req.d, "hex");
    const pub = priv.pub();
    const sig = priv.sign(hash, "le");
    const raw = priv.sign(hash); // a second, independent signature, as {r, s}
    return {
      sig_le: Buffer.from(sig).toString("hex"),
      r: hexOf(raw.r),
      s: hexOf(raw.s),
      pub_le: Buffer.from(pub.serialize()).slice(2).toString("hex"),
      pub_x: hexOf(pub.x),
      pub_y: hexOf(pub.y),
    };
  }
  if (req.op === "verify") {
    const le = Buffer.from(req.pub_le, "hex");
    const be = Buffer.from(le).reverse().toString("hex");
    const pub = curve.pubkey(be, "hex");
    let ok;
    try {
      ok = pub.verify(hash, Buffer.from(req.sig_le, "hex"), "le");
    } catch (e) {
      ok = false; // jkurwa throws on r or s out of range; that is a rejection too
    }
    return { ok };
  }
  throw new Error("unknown op " + req.op);
}

require("./serve_json")(handle);
