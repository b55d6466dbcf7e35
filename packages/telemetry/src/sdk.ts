import { NodeSDK, core, resources } from '@opentelemetry/sdk-node';
import { trace, type TracerProvider } from '@opentelemetry/api';
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
 * W3C trace context only (traceparent, tracestate). Not baggage: a caller's `baggage` header
 * would be extracted with the request and sent on to every upstream.
 */
export const tracePropagator = () => new core.W3CTraceContextPropagator();

/**
 * Starts the OpenTelemetry SDK for traces only: the OTLP exporter of the configured protocol
 * (which reads OTEL_EXPORTER_OTLP_*ENDPOINT and *_HEADERS itself), W3C trace context only (no
 * baggage: a caller's baggage header would otherwise be carried to upstreams), no metrics or log
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
