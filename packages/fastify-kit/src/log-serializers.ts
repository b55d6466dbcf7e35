import type { FastifyRequest } from 'fastify';

/**
 * The request as a log line shows it: the path with every query value replaced by `[redacted]`.
 * Query strings carry single-use secrets (a password reset link's token, an identity provider's
 * code and state on a callback), and the default serializer would write them whole with every
 * request at info level.
 */
export function redactedUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const keys = url.slice(q + 1).split('&').filter(Boolean).map((pair) => {
    const eq = pair.indexOf('=');
    return `${(eq < 0 ? pair : pair.slice(0, eq)).slice(0, 64)}=[redacted]`;
  });
  return `${url.slice(0, q)}?${keys.join('&')}`;
}

/** Fastify logger serializers for both apps: request lines without query values. */
export const logSerializers = {
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactedUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
};
