// Tracing helpers for the apps. Without a tracer (no OTLP endpoint configured) every helper here
// calls straight through: no span, no context lookup, nothing allocated for tracing on the hot path.
import { SpanStatusCode, context, propagation, trace, type Attributes, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';

export type { Attributes, Span, Tracer, TracerProvider };

/**
 * Runs `fn` in a new active span named `name` (ended when `fn` settles; a throw is recorded as an
 * error with its class name only, never its message, which may quote input). Without a tracer,
 * `fn` runs as it is.
 */
export function inSpan<T>(tracer: Tracer | undefined, name: string, attributes: Attributes | undefined, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!tracer) return fn(undefined);
  return tracer.startActiveSpan(name, attributes ? { attributes } : {}, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorName(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A synchronous `inSpan`, for steps that do not await. */
export function inSpanSync<T>(tracer: Tracer | undefined, name: string, attributes: Attributes | undefined, fn: (span: Span | undefined) => T): T {
  if (!tracer) return fn(undefined);
  return tracer.startActiveSpan(name, attributes ? { attributes } : {}, (span) => {
    try {
      return fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorName(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

const errorName = (err: unknown): string => (err instanceof Error ? (('code' in err && typeof err.code === 'string') ? err.code : err.name) : 'error').slice(0, 64);

/** The trace id of the active span, when one is recording (audit lines carry it as trace_id). */
export function activeTraceId(): string | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}

/**
 * The W3C trace context headers (traceparent, tracestate) of the active span, for a request to an
 * upstream. Only the propagator's own headers are set here, never anything of the caller's.
 */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The tracer an app uses for its own spans. */
export const appTracer = (provider: TracerProvider, app: string): Tracer => provider.getTracer(`@stack/${app}`);
