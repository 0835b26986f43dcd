// The Cloudflare Worker in workerd (`wrangler dev` on 127.0.0.1) in front of a real origin
// (`onsale up` on its embedded engines), with a recording proxy between the two: a request that
// the proxy did not record never reached the origin.
//
//   client -> wrangler dev (Worker) -> recording proxy -> onsale up
//
// The suite also sends each attack straight to the origin, to compare its error code with the
// Worker's, and runs the shared (token, time) table through the native origin verifier, the
// Lambda@Edge package and the Worker. It needs edge/dist/lambda and edge/node_modules
// (scripts/build-edge.sh); `wrangler dev` builds the Worker itself through wrangler.toml.
// EDGE_TEST_KEEP=1 keeps the temporary directory with the logs.
//
// Run: node --test edge/tests/js/worker.test.mjs

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  cargoTargetDir,
  configFor,
  edgeDir,
  freePort,
  headerOf,
  mintCases,
  repo,
  request,
  runGateCases,
  startProcess,
  startRecordingProxy,
  viewerRequestEvent,
  waitFor,
  writeKeys,
} from './support.mjs';

const require = createRequire(import.meta.url);
const { createHandler } = require(path.join(edgeDir, 'dist', 'lambda', 'handler.js'));

const EVENT = 1;
const TEST_CASE_HEADER = 'x-onsale-test-case';
// The codes a gated request can get at the edge.
const EDGE_CODES = new Set([
  'admission_token_missing',
  'admission_token_malformed',
  'admission_token_algorithm',
  'admission_token_signature',
  'admission_token_expired',
  'admission_token_wrong_event',
  'invalid_request',
]);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onsale-worker-test-'));
const keysPath = writeKeys(path.join(tmp, 'data'));
let origin;
let wrangler;
let proxy;
let originPort;
let workerPort;
let fan;
let minted;
const workerVerdicts = new Map();
let failed = false;

function logTail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

before(async () => {
  originPort = await freePort();
  workerPort = await freePort();

  execFileSync('cargo', ['build', '-q', '-p', 'onsale-origin', '--bin', 'onsale'], { cwd: repo, stdio: 'inherit' });
  const onsale = path.join(cargoTargetDir(), 'debug', 'onsale');
  origin = startProcess(onsale, ['up', '--data-dir', path.join(tmp, 'data'), '--listen', `127.0.0.1:${originPort}`], {
    env: { ONSALE_LOG: 'info', ONSALE_AUTO_OPEN_QUEUES: 'true' },
    logFile: path.join(tmp, 'origin.log'),
  });
  proxy = await startRecordingProxy(originPort);

  const publicKey = runGateCases(['public-key', keysPath]).trim();
  wrangler = startProcess(
    path.join(edgeDir, 'node_modules', '.bin', 'wrangler'),
    [
      'dev',
      '--ip', '127.0.0.1',
      '--port', String(workerPort),
      '--persist-to', path.join(tmp, 'wrangler-state'),
      '--show-interactive-dev-session=false',
      '--var', `TOKEN_PUBLIC_KEY:${publicKey}`,
      '--var', `ORIGIN_URL:http://127.0.0.1:${proxy.port}`,
    ],
    {
      env: { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' },
      logFile: path.join(tmp, 'wrangler.log'),
    },
  );

  try {
    await waitFor('origin', async () => (await request({ port: originPort, path: '/readyz' })).status === 200, {
      timeoutMs: 300_000,
      process: origin,
    });
    // /healthz is outside the API, so it also proves that the Worker reaches the origin.
    await waitFor('worker', async () => (await request({ port: workerPort, path: '/healthz' })).text === 'ok', {
      timeoutMs: 300_000,
      intervalMs: 500,
      process: wrangler,
    });
  } catch (err) {
    throw new Error(
      `${err.message}\n--- origin.log ---\n${logTail(path.join(tmp, 'origin.log'))}\n` +
        `--- wrangler.log ---\n${logTail(path.join(tmp, 'wrangler.log'))}`,
    );
  }

  const created = await request({ port: workerPort, method: 'POST', path: '/api/v1/fans' });
  assert.equal(created.status, 201, created.text);
  fan = created.json;
});

after(async () => {
  await wrangler?.stop();
  await proxy?.close();
  await origin?.stop();
  if (failed || process.env.EDGE_TEST_KEEP) {
    console.log(`logs and state kept in ${tmp}`);
  } else {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

// Marks the run as failed when `body` throws, so the logs are kept.
function tracked(body) {
  return async (t) => {
    try {
      await body(t);
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

// POST /holds with a minted case's header. The body requests no seats: the origin checks the
// admission token first and then returns 400 invalid_request, so a passing request proves it
// reached the origin's seat handler, and no hold binds the token's nonce.
function hold(port, mintedCase, tag) {
  const headers = { 'content-type': 'application/json', 'x-onsale-fan': fan.session, [TEST_CASE_HEADER]: tag };
  const authorization = headerOf(mintedCase);
  if (authorization !== undefined) {
    headers.authorization = authorization;
  }
  return request({ port, method: 'POST', path: `/api/v1/events/${EVENT}/holds`, headers, body: '{"seats":[]}' });
}

function passedToSeatHandler(response) {
  return response.status === 400 && response.json?.error?.code === 'invalid_request' && /seat/.test(response.text);
}

test(
  'attack table at the Worker',
  tracked(async () => {
    minted = mintCases({ keysPath, event: EVENT, fan: fan.fan_id, out: path.join(tmp, 'cases.json') });
    const valid = minted.cases.find((c) => c.name === 'valid token');
    // Passing cases first: "expired 1 s ago, inside the leeway" passes only for 4 s after minting.
    const ordered = [...minted.cases.filter((c) => c.expect === 'pass'), ...minted.cases.filter((c) => c.expect !== 'pass')];

    for (const [index, c] of ordered.entries()) {
      if (!c.real_clock) {
        continue;
      }
      const tag = `case-${index}`;
      const response = await hold(workerPort, c, tag);
      if (c.expect === 'pass') {
        const elapsed = Date.now() - minted.minted_at_ms;
        assert.ok(elapsed < 4000, `${c.name}: sent ${elapsed} ms after minting, past the case's window`);
        assert.ok(passedToSeatHandler(response), `${c.name}: ${response.status} ${response.text}`);
        assert.ok(proxy.reached(tag), `${c.name}: the origin did not receive the request`);
        workerVerdicts.set(c.name, 'pass');
        continue;
      }

      assert.equal(response.status, 403, `${c.name}: ${response.text}`);
      assert.equal(response.json?.error?.code, c.expect, c.name);
      assert.equal(response.headers['cache-control'], 'no-store', c.name);
      assert.ok(!proxy.reached(tag), `${c.name}: the request reached the origin`);
      workerVerdicts.set(c.name, response.json.error.code);

      // The origin, asked directly, gives the same code and the same body.
      const direct = await hold(originPort, c, `${tag}-direct`);
      assert.equal(direct.status, 403, `${c.name} at the origin: ${direct.text}`);
      assert.deepEqual(direct.json, response.json, `${c.name}: the edge's body differs from the origin's`);

      const next = await hold(workerPort, valid, `${tag}-then-valid`);
      assert.ok(passedToSeatHandler(next), `valid request after ${c.name}: ${next.status} ${next.text}`);
      assert.ok(proxy.reached(`${tag}-then-valid`), `valid request after ${c.name} did not reach the origin`);
    }
  }),
);

test(
  'shared table agrees everywhere',
  tracked(async () => {
    assert.ok(minted, 'the attack-table test minted the cases');
    const casesFile = path.join(tmp, 'cases.json');
    const rowsFile = path.join(tmp, 'native-rows.json');
    runGateCases(['verify', casesFile, rowsFile]);
    const native = new Map(JSON.parse(fs.readFileSync(rowsFile, 'utf8')).map((row) => [row.name, row]));

    const lines = [];
    const pad = (text, width) => String(text).padEnd(width);
    lines.push(`${pad('case', 38)} ${pad('expected', 28)} ${pad('origin verifier', 28)} ${pad('edge gate (native)', 28)} ${pad('Lambda@Edge', 28)} Worker`);
    for (const c of minted.cases) {
      const handler = createHandler({ configJson: configFor(minted), now: () => c.now_ms, logger: { error() {} } });
      const event = viewerRequestEvent({
        method: 'POST',
        uri: `/api/v1/events/${minted.event}/holds`,
        headers: { Authorization: headerOf(c) },
      });
      const result = await handler(event);
      const lambda = 'status' in result ? JSON.parse(result.body).error.code : 'pass';
      const worker = c.real_clock ? workerVerdicts.get(c.name) : 'n/a (edge of leeway)';
      const row = native.get(c.name);
      lines.push(`${pad(c.name, 38)} ${pad(c.expect, 28)} ${pad(row.origin, 28)} ${pad(row.edge, 28)} ${pad(lambda, 28)} ${worker}`);

      assert.equal(row.origin, c.expect, `native origin verifier: ${c.name}`);
      assert.equal(row.edge, c.expect, `native edge gate: ${c.name}`);
      assert.equal(lambda, c.expect, `Lambda@Edge: ${c.name}`);
      if (c.real_clock) {
        assert.equal(worker, c.expect, `Worker: ${c.name}`);
      }
    }
    console.log(lines.join('\n'));
  }),
);

test(
  'admitted fan holds and releases',
  tracked(async () => {
    const session = { 'x-onsale-fan': fan.session };
    const joined = await request({ port: workerPort, method: 'POST', path: `/api/v1/events/${EVENT}/queue`, headers: session });
    assert.equal(joined.status, 200, joined.text);

    // The admitter runs in the origin; the status route passes through until it returns the token.
    const status = await waitFor(
      'admission',
      async () => {
        const response = await request({ port: workerPort, path: `/api/v1/events/${EVENT}/queue`, headers: session });
        return response.json?.state === 'admitted' ? response.json : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const bearer = { ...session, authorization: `Bearer ${status.token}`, 'content-type': 'application/json' };

    const held = await request({
      port: workerPort,
      method: 'POST',
      path: `/api/v1/events/${EVENT}/holds`,
      headers: { ...bearer, [TEST_CASE_HEADER]: 'real-hold' },
      body: JSON.stringify({ seats: [0, 1] }),
    });
    assert.equal(held.status, 201, held.text);
    assert.ok(proxy.reached('real-hold'));
    const holdPath = `/api/v1/events/${EVENT}/holds/${held.json.hold_id}`;

    const forged = { ...bearer, authorization: `Bearer ${status.token.slice(0, -4)}AAAA` };
    for (const [method, holdRoute] of [['POST', `${holdPath}/confirm`], ['DELETE', holdPath]]) {
      const tag = `forged-${method}`;
      const response = await request({ port: workerPort, method, path: holdRoute, headers: { ...forged, [TEST_CASE_HEADER]: tag }, body: '{}' });
      assert.equal(response.status, 403, `${method} ${holdRoute}: ${response.text}`);
      assert.ok(!proxy.reached(tag), `${method} with a forged token reached the origin`);
    }

    const released = await request({ port: workerPort, method: 'DELETE', path: holdPath, headers: { ...bearer, [TEST_CASE_HEADER]: 'real-release' } });
    assert.equal(released.status, 204, released.text);
    assert.ok(proxy.reached('real-release'));
  }),
);

test(
  'browse served from edge cache',
  tracked(async () => {
    for (const url of ['/api/v1/events?city=Glendale&limit=5', `/api/v1/events/${EVENT}`, `/api/v1/events/${EVENT}/seats`]) {
      const direct = await request({ port: originPort, path: url });
      const first = await request({ port: workerPort, path: url });
      const second = await request({ port: workerPort, path: url });
      assert.equal(first.status, 200, `${url}: ${first.status}`);
      assert.equal(first.headers['x-onsale-edge-cache'], 'MISS', url);
      assert.equal(second.headers['x-onsale-edge-cache'], 'HIT', url);
      assert.equal(second.text, first.text, url);
      assert.equal(first.headers['cache-control'], direct.headers['cache-control'], `${url}: Cache-Control as the origin sent it`);
      assert.equal(second.headers.etag, direct.headers.etag, url);
      assert.equal(proxy.count(url), 1, `${url}: requests that reached the origin`);

      // The edge responds to a conditional request with 304.
      const revalidated = await request({ port: workerPort, path: url, headers: { 'if-none-match': first.headers.etag } });
      assert.equal(revalidated.status, 304, url);
      assert.equal(proxy.count(url), 1, `${url}: the 304 came from the edge`);
    }
  }),
);

test(
  'bitmap micro-cached about a second',
  tracked(async () => {
    const url = `/api/v1/events/${EVENT + 1}/availability`;
    const first = await request({ port: workerPort, path: url });
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-onsale-edge-cache'], 'MISS');
    const firstAt = Date.now();
    const second = await request({ port: workerPort, path: url });
    assert.equal(second.headers['x-onsale-edge-cache'], 'HIT');
    assert.equal(second.headers['cache-control'], 'public, max-age=1');
    assert.equal(proxy.count(url), 1);

    // Poll until the edge goes back to the origin; it must within a few seconds.
    const refetchedAt = await waitFor(
      'bitmap expiry',
      async () => ((await request({ port: workerPort, path: url })).headers['x-onsale-edge-cache'] === 'MISS' ? Date.now() : 0),
      { timeoutMs: 5_000, intervalMs: 100 },
    );
    const lifetime = refetchedAt - firstAt;
    console.log(`bitmap served from the edge cache for ${lifetime} ms`);
    assert.ok(lifetime >= 500, `bitmap lifetime at the edge: ${lifetime} ms`);
    assert.ok(lifetime <= 3000, `bitmap lifetime at the edge: ${lifetime} ms`);
    assert.equal(proxy.count(url), 2);
  }),
);

test(
  'queue routes pass through',
  tracked(async () => {
    const other = (await request({ port: workerPort, method: 'POST', path: '/api/v1/fans' })).json;
    const session = { 'x-onsale-fan': other.session };
    const queuePath = `/api/v1/events/${EVENT + 2}/queue`;
    const joined = await request({ port: workerPort, method: 'POST', path: queuePath, headers: session });
    assert.equal(joined.status, 200, joined.text);
    for (let i = 0; i < 2; i += 1) {
      const status = await request({ port: workerPort, path: queuePath, headers: session });
      assert.equal(status.status, 200, status.text);
      assert.equal(status.headers['x-onsale-edge-cache'], undefined);
    }
    assert.equal(proxy.count(queuePath), 3, 'join and both status requests reached the origin');

    const wsPath = `${queuePath}/ws?session=${encodeURIComponent(other.session)}`;
    const message = await webSocketFirstMessage(workerPort, wsPath);
    assert.match(message, /"state":"(queued|admitted)"/);
    assert.ok(proxy.records.some((record) => record.upgrade && record.url === wsPath), 'the upgrade reached the origin');
  }),
);

test(
  'hostile seat requests rejected',
  tracked(async () => {
    // A fixed seed: the same requests on every run.
    let state = 0x2545f491;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    const headerBytes = [...Array(256).keys()].filter((byte) => byte === 9 || (byte >= 32 && byte !== 127));
    const paths = [`/api/v1/events/${EVENT}/holds`, '/api/v1/events/-1/holds', '/api/v1/events/%ff/holds/x', '/api/v1//events/1/holds/a/confirm'];
    for (let i = 0; i < 150; i += 1) {
      const length = next() % (i % 10 === 0 ? 12_000 : 300);
      const bytes = Buffer.from(Array.from({ length }, () => headerBytes[next() % headerBytes.length]));
      const value = (i % 2 === 0 ? 'Bearer ' : '') + bytes.toString('latin1').trim();
      const tag = `hostile-${i}`;
      const response = await request({
        port: workerPort,
        method: ['POST', 'DELETE', 'GET', 'PUT'][i % 4],
        path: paths[i % paths.length],
        headers: { authorization: value, [TEST_CASE_HEADER]: tag },
      });
      assert.ok([400, 403].includes(response.status), `request ${i}: ${response.status} ${response.text.slice(0, 200)}`);
      assert.ok(EDGE_CODES.has(response.json?.error?.code), `request ${i}: ${response.text.slice(0, 200)}`);
      assert.ok(!proxy.reached(tag), `hostile request ${i} reached the origin`);
    }
    const valid = minted.cases.find((c) => c.name === 'valid token');
    assert.ok(passedToSeatHandler(await hold(workerPort, valid, 'after-hostile')));
  }),
);

// Opens a WebSocket with a plain HTTP upgrade and returns the first text message.
function webSocketFirstMessage(port, requestPath) {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const http = require('node:http');
    const upgrade = http.request({
      host: '127.0.0.1',
      port,
      path: requestPath,
      agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key },
    });
    const timer = setTimeout(() => reject(new Error('no WebSocket message within 10 s')), 10_000);
    upgrade.on('response', (response) => reject(new Error(`upgrade answered ${response.statusCode}`)));
    upgrade.on('error', reject);
    upgrade.on('upgrade', (response, socket, head) => {
      let buffer = head;
      const tryFrame = () => {
        // An unmasked server frame: FIN and opcode, then a 7-bit or 16-bit payload length.
        if (buffer.length < 2) return;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        }
        if (buffer.length < offset + length) return;
        clearTimeout(timer);
        socket.destroy();
        resolve(buffer.subarray(offset, offset + length).toString('utf8'));
      };
      socket.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        tryFrame();
      });
      tryFrame();
    });
    upgrade.end();
  });
}
