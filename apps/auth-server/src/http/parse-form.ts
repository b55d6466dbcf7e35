import type { FastifyRequest } from 'fastify';
import { formParams } from '../plugins/form-body.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The form parameters, single strings (set by the parseForm step). */
    form: Record<string, string> | null;
  }
}

/** Step: the form-encoded body as single-valued parameters; a repeated parameter is invalid_request (OAuth 2.1 §3.1). */
export async function parseForm(request: FastifyRequest): Promise<void> {
  request.form = formParams(request);
}
