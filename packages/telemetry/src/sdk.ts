import { NodeSDK, core, resources } from '@opentelemetry/sdk-node';
import { trace, type Context, type TextMapPropagator, type TextMapSetter, type TracerProvider } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { TracingConfig } from '@stack/config';

/** A started tracing SDK: what buildApp is given, and how to flush and stop it. */
export interface StartedTracing {
  tracerProvider: TracerProvider;
  /** Exports the spans still buffered, then stops the SDK (bounded by the exporter's timeout). */
  shutdown(): Promise<void>;
}

/**
 * W3C trace context (traceparent, tracestate), sent and never taken. Sent to upstreams, so their
 * spans join our trace. Not taken from callers: the apps face the internet, and a caller's
 * traceparent would choose the trace id written into our audit lines (one caller's lines could
 * claim another request's trace) and, through a parent-based sampler, whether the request is
 * traced at all; every request starts a trace of its own here. Not baggage either: whatever a
 * caller put there would travel on to every upstream.
 */
class SendOnlyTraceContext implements TextMapPropagator {
  private readonly w3c = new core.W3CTraceContextPropagator();
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    this.w3c.inject(ctx, carrier, setter);
  }
  extract(ctx: Context): Context {
    return ctx;
  }
  fields(): string[] {
    return this.w3c.fields();
  }
}

export const tracePropagator = (): TextMapPropagator => new SendOnlyTraceContext();

/**
 * Starts the OpenTelemetry SDK for traces only: the OTLP exporter of the configured protocol
 * (which reads OTEL_EXPORTER_OTLP_*ENDPOINT and *_HEADERS itself), W3C trace context sent to
 * upstreams but not taken from callers (tracePropagator), no metrics or log
 * exporters (metrics are Prometheus, /metrics), and no auto-instrumentation: the apps are ESM, and
 * patching their imports would need loader hooks; the Fastify plugin and the apps' own spans
 * cover the request path. Called from main.ts only, never from buildApp.
 */
export function startTracing(config: TracingConfig): StartedTracing {
  const sdk = new NodeSDK({
    serviceName: config.serviceName,
    traceExporter: config.protocol === 'http/json' ? new JsonExporter() : new ProtobufExporter(),
    textMapPropagator: tracePropagator(),
    // The process detector would record the command line; the host's name and the env's
    // OTEL_RESOURCE_ATTRIBUTES are what an operator expects to see.
    resourceDetectors: [resources.envDetector, resources.hostDetector],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return { tracerProvider: trace.getTracerProvider(), shutdown: () => sdk.shutdown() };
}
