// load.js: OTLP/HTTP JSON export requests of SPANS spans each (every span in
// a fresh trace group of 10, fresh ids per request) against URL for SECONDS
// with CONNECTIONS connections; prints one JSON line: requests and spans
// accepted (2xx), non-2xx, spans/s, p50/p99 latency, and the trace ids sent
// with their span counts (written to TRACES_FILE) for the completeness check.
//   node load.js URL SECONDS CONNECTIONS SPANS TENANT TRACES_FILE
// `node load.js --body-only` prints one request body of 100 spans instead.
'use strict';
const autocannon = require('autocannon');
const crypto = require('crypto');
const fs = require('fs');

const bodyOnly = process.argv[2] === '--body-only';
const [url, seconds, connections, spansPerRequest, tenant, tracesFile] = process.argv.slice(2);
const nSpans = bodyOnly ? 100 : Number(spansPerRequest);
const sent = new Map(); // trace id -> spans, for requests answered 2xx
const pending = new Map(); // body -> traces of it

function body() {
  const now = BigInt(Date.now()) * 1000000n;
  const spans = [];
  const traces = {};
  let traceId;
  for (let i = 0; i < nSpans; i++) {
    if (i % 10 === 0) traceId = crypto.randomBytes(16).toString('hex');
    traces[traceId] = (traces[traceId] || 0) + 1;
    spans.push({
      traceId, spanId: crypto.randomBytes(8).toString('hex'), name: `op-${i % 7}`, kind: 1,
      startTimeUnixNano: String(now + BigInt(i) * 1000n),
      endTimeUnixNano: String(now + BigInt(i) * 1000n + 500000n),
      attributes: [{ key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
                   { key: 'gen_ai.usage.input_tokens', value: { intValue: 10 } }],
      status: { code: 1 },
    });
  }
  const text = JSON.stringify({ resourceSpans: [{ resource: { attributes: [
    { key: 'service.name', value: { stringValue: 'bench' } }] },
    scopeSpans: [{ scope: { name: 'bench' }, spans }] }] });
  return { text, traces };
}

if (bodyOnly) {
  process.stdout.write(body().text);
  process.exit(0);
}

const instance = autocannon({
  url, duration: Number(seconds), connections: Number(connections), method: 'POST',
  headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
  requests: [{
    setupRequest: (req, context) => {
      const b = body();
      context.traces = b.traces;
      return { ...req, body: b.text };
    },
    onResponse: (status, _body, context) => {
      if (status >= 200 && status < 300) {
        for (const [t, n] of Object.entries(context.traces)) sent.set(t, (sent.get(t) || 0) + n);
      }
    },
  }],
});

instance.on('done', (r) => {
  const okRequests = r['2xx'];
  let spans = 0;
  for (const n of sent.values()) spans += n;
  fs.writeFileSync(tracesFile, [...sent.entries()].map(([t, n]) => `${t} ${n}`).join('\n') + '\n');
  console.log(JSON.stringify({
    requests_ok: okRequests, non_2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
    spans_accepted: spans, spans_per_s: Math.round(spans / Number(seconds)),
    latency_p50_ms: r.latency.p50, latency_p99_ms: r.latency.p99,
  }));
});
