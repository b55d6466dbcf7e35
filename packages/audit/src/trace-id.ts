import type { AuditSink } from './audit-log.ts';

/**
 * A sink that adds `trace_id` (the active trace, when tracing is on and a span is active) to each
 * line before `sink` chains it, so a line and the trace of its request can be found from each
 * other. The field is part of the line like any other: the chain's MAC covers it. Only wrapped
 * when tracing is on; lines written outside a request (summaries, chain headers) carry none.
 */
export function withTraceId(sink: AuditSink, traceId: () => string | undefined): AuditSink {
  return {
    write(event) {
      const id = traceId();
      sink.write(id === undefined ? event : { ...event, trace_id: id });
    },
  };
}
