#!/usr/bin/env node
/*
 * Key container peer for tests/test_keystore.py: jkurwa 1.21 reads the containers Python writes.
 *
 * stdin: a JSON array of requests; stdout: a JSON array of answers, in order.
 *   {"op": "read", "data": hex, "password"?: text}
 *     -> {"keyids": [hex, ...]}  or  {"error": text}
 *        jkurwa's Priv.from_protected (PKCS#8, PBES2, IIT Key-6.dat), every key it finds,
 *        each as Pub.keyid (ГОСТ 34.311 of the key's OCTET STRING, the certificates' SKI).
 */
"use strict";
const gost89 = require("gost89");
const jk = require("jkurwa");

const algo = gost89.compat.algos();

function handle(req) {
  try {
    const store = jk.Priv.from_protected(Buffer.from(req.data, "hex"), req.password, algo);
    return { keyids: store.keys.map((k) => Buffer.from(k.pub().keyid(algo)).toString("hex")) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

require("./serve_json")(handle);
