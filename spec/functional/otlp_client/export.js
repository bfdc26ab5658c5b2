// export.js: exports one trace of three spans to esengine with the official
// OpenTelemetry JS SDK, over OTLP/HTTP JSON or protobuf, and prints what was
// sent (the expected trace summary) as one JSON line.
//
//   node export.js --url http://127.0.0.1:4318/v1/traces --protocol json|proto
//                  (--tenant T | --key K) [--service NAME]
'use strict';

const { trace, SpanStatusCode, SpanKind } = require('@opentelemetry/api');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!args.url || !args.protocol) throw new Error('usage: --url URL --protocol json|proto');
  return args;
}

function exporterFor(args) {
  const headers = args.key ? { Authorization: `Bearer ${args.key}` } : { 'X-Tenant-Id': args.tenant };
  const options = { url: args.url, headers, compression: args.gzip === 'yes' ? 'gzip' : 'none' };
  if (args.protocol === 'proto') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
    return new OTLPTraceExporter(options);
  }
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
  return new OTLPTraceExporter(options);
}

async function main() {
  const args = parseArgs(process.argv);
  const exporter = exporterFor(args);
  // Remember the export results: a failed export must fail the spec.
  const results = [];
  const exportOriginal = exporter.export.bind(exporter);
  exporter.export = (spans, done) =>
    exportOriginal(spans, (result) => {
      results.push(result);
      done(result);
    });

  const service = args.service || 'otlp-client-spec';
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('esengine-spec', '1.0.0');

  // Fixed times (ms since epoch) so the summary's duration is known.
  const t0 = Date.now() - 60000;
  const root = tracer.startSpan('agent.run', { kind: SpanKind.SERVER, startTime: t0 });
  const ctx = trace.setSpan(require('@opentelemetry/api').context.active(), root);
  const llm = tracer.startSpan('chat gpt-4o-mini', {
    kind: SpanKind.CLIENT,
    startTime: t0 + 100,
    attributes: {
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 30,
      'langwatch.user.id': 'user-42',
    },
  }, ctx);
  llm.setStatus({ code: SpanStatusCode.OK });
  llm.end(t0 + 900);
  const tool = tracer.startSpan('tool.search', { startTime: t0 + 950 }, ctx);
  tool.setStatus({ code: SpanStatusCode.ERROR, message: 'search backend down' });
  tool.end(t0 + 1200);
  root.end(t0 + 1500);

  await provider.forceFlush();
  await provider.shutdown();
  const failed = results.filter((r) => r.code !== 0);
  if (results.length === 0 || failed.length) {
    console.error('export failed:', JSON.stringify(failed.map((r) => String(r.error))));
    process.exit(1);
  }
  console.log(JSON.stringify({
    trace_id: root.spanContext().traceId,
    span_count: 3,
    start_time_ms: t0,
    total_duration_ms: 1500,
    has_error: true,
    error_message: 'search backend down',
    models: ['gpt-4o-mini'],
    prompt_tokens: 12,
    completion_tokens: 30,
    service_name: service,
  }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
