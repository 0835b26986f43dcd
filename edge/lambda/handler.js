'use strict';
// Lambda@Edge viewer-request handler: the onsale gate (Rust, compiled to Wasm with wasm-bindgen
// for Node.js) in front of CloudFront's cache and the origin.
//
// CloudFront calls `handler` with a viewer-request event. The handler returns the request
// unchanged to let it through, or a generated response instead:
// - 403 with the origin's JSON body and stable error code, for a missing, forged, expired or
//   wrong-event admission token on a seat route;
// - 400 for an invalid event id in the path;
// - 500 for every seat request when config.json is not usable.
// Lambda@Edge functions have no environment variables, so the public key comes from
// config.json, which scripts/build-edge.sh writes next to this file. The clock is Date.now().

const fs = require('node:fs');
const path = require('node:path');
const { LambdaGate } = require('./onsale_edge.js');

const STATUS_DESCRIPTIONS = {
  400: 'Bad Request',
  403: 'Forbidden',
  500: 'Internal Server Error',
};

// The value the gate checks: CloudFront lists each header once per occurrence, and several
// values are joined as fetch's Headers.get joins them, so the Worker and this handler see the
// same string.
// NOTE: how CloudFront turns header bytes that are not UTF-8 into a string is not documented.
// The tests cover both readings (UTF-8 with U+FFFD, one character per byte), and both are
// rejected as admission_token_malformed.
function authorizationOf(request) {
  const values = (request.headers && request.headers.authorization) || [];
  if (values.length === 0) {
    return undefined;
  }
  return values.map((header) => header.value).join(', ');
}

function generatedResponse(verdict) {
  return {
    status: String(verdict.status),
    statusDescription: STATUS_DESCRIPTIONS[verdict.status] || 'Error',
    headers: {
      'content-type': [{ key: 'Content-Type', value: 'application/json' }],
      'cache-control': [{ key: 'Cache-Control', value: 'no-store' }],
    },
    body: verdict.body,
  };
}

// Builds a handler. Tests pass `configJson` and `now`; Lambda uses the defaults.
function createHandler({ configJson, now = Date.now, logger = console } = {}) {
  const text = configJson === undefined ? fs.readFileSync(path.join(__dirname, 'config.json'), 'utf8') : configJson;
  const gate = new LambdaGate(text);
  if (gate.configError !== undefined) {
    logger.error(`onsale edge gate: ${gate.configError}; every seat request gets a 500 response`);
  }

  return async function handler(event) {
    const record = event && Array.isArray(event.Records) ? event.Records[0] : undefined;
    const request = record && record.cf ? record.cf.request : undefined;
    if (!request || typeof request.method !== 'string' || typeof request.uri !== 'string') {
      throw new Error('onsale edge gate: the event is not a CloudFront viewer-request event');
    }
    const verdict = gate.check(request.method, request.uri, authorizationOf(request), now());
    if (verdict === undefined) {
      return request;
    }
    const response = generatedResponse(verdict);
    verdict.free();
    return response;
  };
}

module.exports = { createHandler, handler: createHandler() };
