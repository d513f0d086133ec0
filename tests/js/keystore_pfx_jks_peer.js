#!/usr/bin/env node
/*
 * PKCS#12 / .jks peer for tests/test_keystore_pfx_jks.py: jkurwa 1.21 and jksreader 1.0 read the
 * containers Python writes.
 *
 * stdin: a JSON array of requests; stdout: a JSON array of answers, in order.
 *   {"op": "pfx", "data": hex, "password": text}
 *     -> {"keyids": [hex, ...], "certs": [hex, ...]} or {"error": text}
 *        jkurwa's Priv.from_protected (lib/spec/pfx.js pfx_parse, then gost89 storeload).
 *   {"op": "jks", "data": hex, "password": text}
 *     -> {"keyids": [...], "certs": [...], "plain": [hex, ...]} or {"error": text}
 *        jkurwa's lib/util/load.js (what Box uses for keyBuffers) for keys and certificates, and
 *        jksreader's parse + decode for the decrypted key bytes of every key entry.
 */
"use strict";
const gost89 = require("gost89");
const jk = require("jkurwa");
const jksreader = require("jksreader");
const load = require("jkurwa/lib/util/load");

const algo = gost89.compat.algos();
const hex = (b) => Buffer.from(b).toString("hex");
const keyid = (priv) => hex(priv.pub().keyid(algo));

function handle(req) {
  try {
    const data = Buffer.from(req.data, "hex");
    if (req.op === "pfx") {
      const store = jk.Priv.from_protected(data, req.password, algo);
      return { keyids: store.keys.map(keyid), certs: store.certs.map(hex) };
    }
    if (req.op === "jks") {
      const items = load({ keyBuffers: [data], password: req.password }, algo);
      const parsed = jksreader.parse(data);
      const plain = parsed.material.map((m) => {
        const buf = jksreader.decode(m.key, req.password);
        return buf ? hex(buf) : null;
      });
      return {
        keyids: items.filter((i) => i.priv).map((i) => keyid(i.priv)),
        certs: items.filter((i) => i.cert).map((i) => hex(i.cert.as_asn1())),
        plain,
      };
    }
    return { error: `unknown op ${req.op}` };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

require("./serve_json")(handle);
