import { describe, expect, it } from 'vitest';
import { ConfigError } from '@stack/config';
import { loadMcpConfig } from '../src/config.ts';
import { loadAuthConfig } from '../../auth-server/src/config.ts';

const KEK = Buffer.alloc(32, 7).toString('base64');
const mcp = (env: Record<string, string>) => loadMcpConfig({ NODE_ENV: 'test', KEY_ENCRYPTION_KEY: KEK, ...env }, []);
const auth = (env: Record<string, string>) => loadAuthConfig({ NODE_ENV: 'test', KEY_ENCRYPTION_KEY: KEK, ...env });

describe('tracing settings (standard OTel names)', () => {
  it('[OTEL-4] no endpoint, an empty one, or OTEL_SDK_DISABLED=true: tracing is off (no SDK started)', () => {
    expect(mcp({}).tracing).toBeUndefined();
    expect(auth({}).tracing).toBeUndefined();
    expect(mcp({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }).tracing).toBeUndefined();
    expect(mcp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
  });

  it('[OTEL-1] an endpoint turns tracing on, each app under its own default service name, http/protobuf unless told', () => {
    expect(mcp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).tracing).toEqual({ serviceName: 'mcp-oauth-mcp-server', protocol: 'http/protobuf' });
    expect(auth({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/v1/traces', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing)
      .toEqual({ serviceName: 'mcp-oauth-auth-server', protocol: 'http/json' });
    expect(mcp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_SERVICE_NAME: 'gw' }).tracing)
      .toEqual({ serviceName: 'gw', protocol: 'http/protobuf' });
  });

  it('[OTEL-6] an endpoint that is not an http(s) URL, or gRPC (not offered), is refused naming the setting', () => {
    for (const [env, setting] of [
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://c/v1/traces' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    ] as const) {
      for (const load of [mcp, auth]) {
        try {
          load(env);
          expect.unreachable();
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).problems.map((p) => p.split(':')[0])).toContain(setting);
        }
      }
    }
  });
});
