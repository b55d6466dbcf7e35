import type { FastifyRequest } from 'fastify';
import { invalidRequest } from '@stack/oauth';

/**
 * Returns the request's parameters (form body or query) as single strings. OAuth 2.1 §3.1:
 * parameters MUST NOT be repeated, so a repeated one is an invalid_request naming it.
 */
export function singleParams(source: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (source === undefined || source === null) return out;
  if (typeof source !== 'object') throw invalidRequest('request parameters must be form-encoded');
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (Array.isArray(v)) throw invalidRequest(`parameter '${k}' is included more than once`);
    if (typeof v !== 'string') throw invalidRequest(`parameter '${k}' must be a string`);
    if (v.length > 4096) throw invalidRequest(`parameter '${k}' is too long`);
    out[k] = v;
  }
  return out;
}

/** Form parameters of a POST, refusing anything but application/x-www-form-urlencoded. */
export function formParams(request: FastifyRequest): Record<string, string> {
  const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw invalidRequest('content type must be application/x-www-form-urlencoded');
  return singleParams(request.body);
}

/** Query parameters, refusing repeats. */
export function queryParams(request: FastifyRequest): Record<string, string> {
  return singleParams(request.query);
}
