// Helpers of the edge's JavaScript suites (lambda.test.mjs and worker.test.mjs). They mint the
// shared (token, time) table with the Rust example and build CloudFront viewer-request events.
// They also start child processes and a recording proxy in front of the origin, and send HTTP
// requests with header bytes exactly as given. Everything listens on 127.0.0.1.

import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const edgeDir = path.join(repo, 'edge');

export function cargoTargetDir() {
  const metadata = execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
    cwd: repo,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(metadata).target_directory;
}

// Builds the gate_cases example once and runs it with `args`; returns its standard output.
let exampleBinary;
export function runGateCases(args) {
  if (exampleBinary === undefined) {
    execFileSync('cargo', ['build', '-q', '-p', 'onsale-edge', '--example', 'gate_cases'], { cwd: repo, stdio: 'inherit' });
    exampleBinary = path.join(cargoTargetDir(), 'debug', 'examples', 'gate_cases');
  }
  return execFileSync(exampleBinary, args, { cwd: repo, encoding: 'utf8' });
}

// Writes a keys.json as `onsale up` keeps it, with fresh random keys, readable by its owner only.
export function writeKeys(dataDir) {
  fs.mkdirSync(dataDir, { recursive: true });
  const random = () => crypto.randomBytes(32).toString('base64');
  const keys = {
    token_signing_key: random(),
    ticket_signing_key: random(),
    session_secret: random(),
    admin_token: crypto.randomBytes(32).toString('hex'),
  };
  const keysPath = path.join(dataDir, 'keys.json');
  fs.writeFileSync(keysPath, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keysPath;
}

// Mints the shared table now with the token key of `keysPath`, for `event` and `fan`.
export function mintCases({ keysPath, event, fan, out }) {
  runGateCases(['mint', keysPath, String(event), fan, out]);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

// The gate configuration that goes with a minted table, in the form of config.json.
export function configFor(minted) {
  return JSON.stringify({
    token_algorithm: minted.token_algorithm,
    token_public_key: minted.public_key,
    token_leeway_seconds: minted.leeway_seconds,
  });
}

// A minted case's header as a string with one character per byte (how Node's http module
// writes header values), or undefined for no header.
export function headerOf(mintedCase, encoding = 'latin1') {
  if (mintedCase.authorization_base64 === null) {
    return undefined;
  }
  return Buffer.from(mintedCase.authorization_base64, 'base64').toString(encoding);
}

// A CloudFront viewer-request event, shaped as the Lambda@Edge event structure documents it.
export function viewerRequestEvent({ method, uri, querystring = '', headers = {}, body }) {
  const cfHeaders = {
    host: [{ key: 'Host', value: 'd111111abcdef8.cloudfront.net' }],
    'user-agent': [{ key: 'User-Agent', value: 'onsale-edge-test/1.0' }],
    accept: [{ key: 'accept', value: '*/*' }],
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) {
      continue;
    }
    const values = Array.isArray(value) ? value : [value];
    cfHeaders[name.toLowerCase()] = values.map((item) => ({ key: name, value: item }));
  }
  const request = { clientIp: '203.0.113.178', headers: cfHeaders, method, querystring, uri };
  if (body !== undefined) {
    request.body = {
      inputTruncated: false,
      action: 'read-only',
      encoding: 'base64',
      data: Buffer.from(body).toString('base64'),
    };
  }
  return {
    Records: [
      {
        cf: {
          config: {
            distributionDomainName: 'd111111abcdef8.cloudfront.net',
            distributionId: 'EDFDVBD6EXAMPLE',
            eventType: 'viewer-request',
            requestId: crypto.randomBytes(24).toString('base64url'),
          },
          request,
        },
      },
    ],
  };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Child processes started by a suite, each in its own process group, so that stopping one also
// stops what it started (wrangler starts workerd).
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

export function startProcess(command, args, { cwd = repo, env = {}, logFile }) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
    detached: true,
  });
  fs.closeSync(log);
  running.add(child);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
        const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000));
        if ((await Promise.race([exited, timeout])) === 'timeout') {
          process.kill(-child.pid, 'SIGKILL');
          await exited;
        }
      }
      running.delete(child);
    },
  };
}

// Polls `probe` until it returns a truthy value; fails after `timeoutMs` with the last error.
export async function waitFor(what, probe, { timeoutMs, intervalMs = 250, process: watched } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (watched && (watched.child.exitCode !== null || watched.child.signalCode !== null)) {
      throw new Error(`${what}: the process exited early`);
    }
    try {
      const result = await probe();
      if (result) {
        return result;
      }
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms (${lastError ? lastError.message : 'no answer'})`);
}

// Sends one HTTP/1.1 request without connection reuse. Header values are written one byte per
// character, so a string from headerOf() arrives as the exact bytes minted. The body goes out as
// a Buffer: Node 20 writes the headers together with a string body, and then encodes both as UTF-8.
export function request({ port, method = 'GET', path: requestPath, headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      { host: '127.0.0.1', port, method, path: requestPath, headers, agent: false, timeout: 30_000 },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode, headers: response.headers, text, json });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${requestPath} timed out`)));
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : Buffer.from(body));
  });
}

// An HTTP proxy in front of the origin that records every request it forwards (method, URL and
// the x-onsale-test-case header), WebSocket upgrades included. It is the origin's request log for
// the Worker's traffic: a request that is not in `records` never reached the origin.
export function startRecordingProxy(originPort) {
  const records = [];
  const server = http.createServer((incoming, outgoing) => {
    records.push({ method: incoming.method, url: incoming.url, testCase: incoming.headers['x-onsale-test-case'] });
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: originPort,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
        agent: false,
      },
      (response) => {
        outgoing.writeHead(response.statusCode, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', () => {
      outgoing.writeHead(502);
      outgoing.end();
    });
    incoming.pipe(upstream);
  });
  server.on('upgrade', (incoming, socket, head) => {
    records.push({ method: incoming.method, url: incoming.url, testCase: incoming.headers['x-onsale-test-case'], upgrade: true });
    const upstream = net.connect(originPort, '127.0.0.1', () => {
      const lines = [`${incoming.method} ${incoming.url} HTTP/1.1`];
      for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
        lines.push(`${incoming.rawHeaders[i]}: ${incoming.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        records,
        reached: (testCase) => records.some((record) => record.testCase === testCase),
        count: (url) => records.filter((record) => record.url === url).length,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
