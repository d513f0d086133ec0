#!/usr/bin/env node
/*
 * CAdES peer for tests/test_cades.py: jkurwa 1.21 signs and verifies attached CMS SignedData.
 *
 * stdin: a JSON array of requests; stdout: a JSON array of answers, in order.
 *   {"op": "verify", "cms": hex}
 *     -> {"ok": bool, "content": hex, "signing_time": unix seconds, "error"?: text}
 *        jkurwa's Message.verify: message digest, signing time within the embedded
 *        certificate's validity, ДСТУ 4145 signature over the signed attributes.  It takes the
 *        signer's certificate from the envelope, so no lookup function is needed.
 *   {"op": "sign", "curve": "DSTU_PB_257", "d": hex, "cert": hex, "data": hex, "time": unix seconds}
 *     -> {"cms": hex}   (jkurwa's Message, as in its test/test-sign.js)
 *   {"op": "cert", "cert": hex, "time": unix seconds}
 *     -> {"self_signed_ok": bool, "ski": hex, "keyid": hex, "pub": hex}
 *        Certificate.verifySelfSigned (signature, validity at "time", key identifiers);
 *        "ski" is the extension as jkurwa reads it, "keyid" jkurwa's own hash of the key.
 */
"use strict";
const gost89 = require("gost89");
const jk = require("jkurwa");
const Message = require("jkurwa/lib/models/Message");

const algo = gost89.compat.algos();

function handle(req) {
  if (req.op === "verify") {
    let msg;
    try {
      msg = new Message(Buffer.from(req.cms, "hex"));
    } catch (e) {
      return { ok: false, error: "parse: " + e.message };
    }
    let ok;
    try {
      ok = msg.verify(algo.hash);
    } catch (e) {
      return { ok: false, error: "verify: " + e.message };
    }
    const time = msg.pattrs.signingTime;
    return {
      ok,
      content: Buffer.from(msg.content || []).toString("hex"),
      signing_time: time ? Math.floor(Number(time) / 1000) : null,
    };
  }
  if (req.op === "sign") {
    const priv = jk.std_curve(req.curve).pkey(req.d, "hex");
    const cert = jk.Certificate.from_asn1(Buffer.from(req.cert, "hex"));
    const msg = new Message({
      type: "signedData",
      cert,
      data: Buffer.from(req.data, "hex"),
      hash: algo.hash,
      signTime: req.time,
      signer: priv,
    });
    return { cms: msg.as_asn1().toString("hex") };
  }
  if (req.op === "cert") {
    const cert = jk.Certificate.from_asn1(Buffer.from(req.cert, "hex"));
    const pub = cert.pubkey_unpack();
    return {
      self_signed_ok: cert.verifySelfSigned({ time: req.time * 1000 }, { Dstu4145le: algo.hash }),
      ski: cert.extension.subjectKeyIdentifier.toString("hex"),
      keyid: Buffer.from(pub.keyid(algo)).toString("hex"),
      pub: Buffer.from(pub.serialize()).slice(2).toString("hex"),
    };
  }
  throw new Error("unknown op " + req.op);
}

require("./serve_json")(handle);
