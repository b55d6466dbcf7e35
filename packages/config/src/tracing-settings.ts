import { z } from 'zod';

/**
 * The OpenTelemetry settings both apps read, under the standard OTel names (spread into each
 * app's schema). Tracing is on when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT, or the
 * traces-only OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and OTEL_SDK_DISABLED is not true; the exporter
 * itself reads the endpoints and OTEL_EXPORTER_OTLP_HEADERS, so those never enter the config.
 */
export const tracingSettings = (defaultServiceName: string) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).default(defaultServiceName),
  OTEL_SDK_DISABLED: z.enum(['true', 'false', 'TRUE', 'FALSE']).optional(),
});

const otlpUrl = z.string().refine((s) => {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');
const otlpProtocol = z.enum(['http/protobuf', 'http/json']);

export type OtlpProtocol = z.output<typeof otlpProtocol>;

/** What main.ts needs to start the tracing SDK; undefined when tracing is off. */
export interface TracingConfig {
  serviceName: string;
  protocol: OtlpProtocol;
}

interface TracingInput {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_PROTOCOL?: OtlpProtocol | undefined;
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?: OtlpProtocol | undefined;
  OTEL_SERVICE_NAME: string;
  OTEL_SDK_DISABLED?: string | undefined;
}

export function tracingConfig(c: TracingInput): TracingConfig | undefined {
  if (c.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return undefined;
  if (!c.OTEL_EXPORTER_OTLP_ENDPOINT && !c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  // http/protobuf is the OTLP default (the specification's); gRPC is not offered, so no gRPC stack is loaded.
  return { serviceName: c.OTEL_SERVICE_NAME, protocol: c.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? c.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf' };
}
