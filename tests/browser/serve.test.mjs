// The static file server under hostile request paths: malformed escapes and NUL bytes get
// a 400 and leave the server running; encoded `..`, slashes and backslashes never reach a
// file outside the mount root. Needs no browser and no wasm build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';

const SECRET = 'secret outside the mount root';
const INSIDE = '<p>inside</p>';
let server, port, tmp;

before(async () => {
  // tmp/secret.txt and tmp/index.html sit next to the served root tmp/root/, which holds
  // tmp/root/inside/index.html.
  tmp = mkdtempSync(join(tmpdir(), 'hypernoise-serve-'));
  mkdirSync(join(tmp, 'root/inside'), { recursive: true });
  writeFileSync(join(tmp, 'secret.txt'), SECRET);
  writeFileSync(join(tmp, 'index.html'), SECRET);
  writeFileSync(join(tmp, 'root/inside/index.html'), INSIDE);
  server = await serve({ '/': join(tmp, 'root') }, 0);
  port = server.address().port;
});

after(() => {
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** GET with the path sent byte for byte (fetch and URL would normalise it first). */
function get(path, at = port) {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: at, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => ok({ status: res.statusCode, body, headers: res.headers }));
    });
    // A server that dropped the request (or died) would otherwise leave the test hanging.
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${path}`)));
    req.on('error', fail).end();
  });
}

test('a directory serves its index.html', async () => {
  const res = await get('/inside/');
  assert.equal(res.status, 200);
  assert.equal(res.body, INSIDE);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal((await get('/missing.html')).status, 404);
});

test('a malformed escape is a 400 and the server keeps answering', async () => {
  const bad = await get('/%');
  assert.equal(bad.status, 400);
  assert.match(bad.body, /malformed/);
  assert.equal((await get('/inside/')).status, 200);
});

test('an encoded NUL byte is a 400', async () => {
  assert.equal((await get('/%00')).status, 400);
  assert.equal((await get('/inside/index.html%00.png')).status, 400);
});

test('encoded traversal never leaves the mount root', async () => {
  for (const path of [
    '/..%2f..', '/..%5c..', '/inside/..%2f..%2f..', '/%2e%2e%2f%2e%2e/', // tmp/index.html
    '/..%2fsecret.txt', '/..%2f..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/%2E%2E/secret.txt', '/..%5csecret.txt',
    '/inside/..%2f..%2fsecret.txt', '//..%2fsecret.txt', '/inside//..%2f..%2fsecret.txt',
    '/../secret.txt', '/inside/../../secret.txt',
  ]) {
    const res = await get(path);
    assert.ok(!res.body.includes(SECRET), `${path} leaked the secret`);
    assert.ok([400, 403, 404].includes(res.status), `${path}: status ${res.status}`);
  }
  assert.equal((await get('/inside/')).status, 200);
});

test('a path under no mount is a 404, a failing handler a 500, and neither stops the server', async () => {
  // `null` as a mount directory makes the handler throw.
  const other = await serve({ '/only/': join(tmp, 'root'), '/broken/': null }, 0);
  const status = async (path) => (await get(path, other.address().port)).status;
  try {
    assert.equal(await status('/elsewhere'), 404);
    assert.equal(await status('/broken/x'), 500);
    assert.equal(await status('/only/inside/'), 200);
  } finally {
    other.close();
  }
});
