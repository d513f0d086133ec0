'use strict';
// Oracle for tests/test_gost89.py: answers ГОСТ 28147-89 / 34.311-95 requests with the
// gost89 npm package, the reference peer our pure-Python code must agree with.
// stdin: JSON array of {op, data, key?, iv?} with hex strings; stdout: JSON array of hex.
const gost89 = require('gost89');

const hex = (s) => Buffer.from(s || '', 'hex');

function answer(req) {
  const data = hex(req.data);
  if (req.op === 'hash') {
    // gosthash (one update) only: gost89's Hash.update keeps a stale tail when
    // a later update consumes it exactly, so chunked calls are not a reference.
    return gost89.gosthash(data).toString('hex');
  }
  const ctx = gost89.init();
  ctx.key(hex(req.key));
  switch (req.op) {
    case 'ecb':
      return ctx.crypt(data, Buffer.alloc(data.length)).toString('hex');
    case 'ecb_decrypt':
      return ctx.decrypt(data, Buffer.alloc(data.length)).toString('hex');
    case 'cfb':
      return ctx.crypt_cfb(hex(req.iv), data).toString('hex');
    case 'cfb_decrypt':
      return ctx.decrypt_cfb(hex(req.iv), data).toString('hex');
    case 'mac':
      return ctx.mac(32, data).toString('hex');
    default:
      throw new Error('unknown op ' + req.op);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(answer)));
});
