// The Lambda@Edge handler as packaged in edge/dist/lambda (scripts/build-edge.sh lambda), called
// with CloudFront viewer-request events. The shared (token, time) table runs with the clock
// injected at each case's instant. EDGE_GATE_CASES names a minted table to reuse; without it this
// suite mints one with fresh keys.
//
// Run: node --test edge/tests/js/lambda.test.mjs

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';

import { configFor, edgeDir, headerOf, mintCases, viewerRequestEvent, writeKeys } from './support.mjs';

const require = createRequire(import.meta.url);
const packageDir = path.join(edgeDir, 'dist', 'lambda');
const { createHandler, handler: packagedHandler } = require(path.join(packageDir, 'handler.js'));

const quiet = { error() {} };
let minted;

before(() => {
  if (process.env.EDGE_GATE_CASES) {
    minted = JSON.parse(fs.readFileSync(process.env.EDGE_GATE_CASES, 'utf8'));
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onsale-lambda-test-'));
  const keysPath = writeKeys(dir);
  minted = mintCases({ keysPath, event: 7, fan: 'lambda-test-fan', out: path.join(dir, 'cases.json') });
  fs.rmSync(dir, { recursive: true, force: true });
});

function handlerAt(nowMs, configJson = configFor(minted)) {
  return createHandler({ configJson, now: () => nowMs, logger: quiet });
}

function holdEvent(headers, uri = `/api/v1/events/${minted.event}/holds`) {
  return viewerRequestEvent({
    method: 'POST',
    uri,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: '{"seats":[12,13]}',
  });
}

function verdictOf(result) {
  return 'status' in result ? JSON.parse(result.body).error.code : 'pass';
}

const validCase = () => minted.cases.find((c) => c.name === 'valid token');

test('shared table verdicts', async () => {
  for (const c of minted.cases) {
    const event = holdEvent({ Authorization: headerOf(c) });
    const result = await handlerAt(c.now_ms)(event);
    assert.equal(verdictOf(result), c.expect, c.name);
    if (c.expect === 'pass') {
      assert.equal(result, event.Records[0].cf.request, `${c.name}: the request goes on unchanged`);
    } else {
      assert.equal(result.status, '403', c.name);
      assert.equal(result.statusDescription, 'Forbidden', c.name);
      assert.deepEqual(result.headers['content-type'], [{ key: 'Content-Type', value: 'application/json' }]);
      assert.deepEqual(result.headers['cache-control'], [{ key: 'Cache-Control', value: 'no-store' }]);
    }
  }
});

test('non-UTF-8 header in both decodings', async () => {
  const c = minted.cases.find((item) => item.name === 'non-UTF-8 bytes');
  for (const encoding of ['latin1', 'utf8']) {
    const result = await handlerAt(c.now_ms)(holdEvent({ Authorization: headerOf(c, encoding) }));
    assert.equal(verdictOf(result), 'admission_token_malformed', encoding);
  }
});

test('release and confirm gated', async () => {
  const handler = handlerAt(validCase().now_ms);
  for (const [method, uri] of [
    ['DELETE', `/api/v1/events/${minted.event}/holds/0b9e8c2e-3f6a-4c1e-9a55-5d7f0c2f1a10`],
    ['POST', `/api/v1/events/${minted.event}/holds/0b9e8c2e-3f6a-4c1e-9a55-5d7f0c2f1a10/confirm`],
  ]) {
    const bare = await handler(viewerRequestEvent({ method, uri }));
    assert.equal(verdictOf(bare), 'admission_token_missing', `${method} ${uri}`);
    const event = viewerRequestEvent({ method, uri, headers: { Authorization: headerOf(validCase()) } });
    assert.equal(await handler(event), event.Records[0].cf.request, `${method} ${uri} with a valid token`);
  }
});

test('browse, queue and assets pass', async () => {
  const handler = handlerAt(validCase().now_ms);
  const requests = [
    viewerRequestEvent({ method: 'GET', uri: '/api/v1/events', querystring: 'city=Glendale&limit=5' }),
    viewerRequestEvent({ method: 'GET', uri: `/api/v1/events/${minted.event}/seats` }),
    viewerRequestEvent({ method: 'GET', uri: `/api/v1/events/${minted.event}/availability` }),
    viewerRequestEvent({ method: 'POST', uri: `/api/v1/events/${minted.event}/queue`, headers: { 'X-Onsale-Fan': 's' } }),
    viewerRequestEvent({ method: 'GET', uri: `/api/v1/events/${minted.event}/queue/ws`, querystring: 'session=s' }),
    viewerRequestEvent({ method: 'GET', uri: '/index.html' }),
  ];
  for (const event of requests) {
    const request = event.Records[0].cf.request;
    assert.equal(await handler(event), request, `${request.method} ${request.uri}`);
  }
});

test('invalid event id gets 400', async () => {
  const handler = handlerAt(validCase().now_ms);
  const result = await handler(holdEvent({ Authorization: headerOf(validCase()) }, '/api/v1/events/abc/holds'));
  assert.equal(result.status, '400');
  assert.equal(verdictOf(result), 'invalid_request');
  assert.equal(JSON.parse(result.body).error.details.field, 'event_id');
});

test('repeated Authorization headers joined', async () => {
  const handler = handlerAt(validCase().now_ms);
  const twice = await handler(holdEvent({ Authorization: [headerOf(validCase()), 'Bearer garbage'] }));
  assert.equal(verdictOf(twice), 'admission_token_malformed');
});

test('unusable key rejects seat requests', async () => {
  const errors = [];
  const handler = createHandler({
    configJson: JSON.stringify({ token_algorithm: 'ed25519', token_public_key: '' }),
    logger: { error: (message) => errors.push(message) },
  });
  assert.match(errors.join('\n'), /public key is empty/);
  const seat = await handler(holdEvent({ Authorization: headerOf(validCase()) }));
  assert.equal(seat.status, '500');
  assert.equal(verdictOf(seat), 'internal_error');
  const browse = viewerRequestEvent({ method: 'GET', uri: '/api/v1/events' });
  assert.equal(await handler(browse), browse.Records[0].cf.request);

  const hs256 = createHandler({
    configJson: JSON.stringify({ token_algorithm: 'hs256', token_public_key: minted.public_key }),
    logger: quiet,
  });
  assert.equal(verdictOf(await hs256(holdEvent({ Authorization: headerOf(validCase()) }))), 'internal_error');
});

test('non-viewer-request event throws', async () => {
  const handler = handlerAt(validCase().now_ms);
  await assert.rejects(handler({}), /not a CloudFront viewer-request event/);
  await assert.rejects(handler({ Records: [{ cf: {} }] }), /not a CloudFront viewer-request event/);
});

test('packaged handler reads config.json', async () => {
  assert.equal(typeof packagedHandler, 'function');
  const browse = viewerRequestEvent({ method: 'GET', uri: '/api/v1/events' });
  assert.equal(await packagedHandler(browse), browse.Records[0].cf.request);
  const seat = await packagedHandler(holdEvent({}));
  // Without ONSALE_EDGE_TOKEN_PUBLIC_KEY at build time the package has no key and returns 500.
  // With one, a request without a token gets 403.
  const config = JSON.parse(fs.readFileSync(path.join(packageDir, 'config.json'), 'utf8'));
  const expected = config.token_public_key ? 'admission_token_missing' : 'internal_error';
  assert.equal(verdictOf(seat), expected);
});
