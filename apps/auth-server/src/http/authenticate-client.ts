import type { FastifyRequest } from 'fastify';
import { authenticateClient as authenticate, type AuthenticatedClient } from '../services/client-auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client that authenticated the request and how (set by the authenticateClient step). */
    oauthClient: AuthenticatedClient | null;
  }
}

/** Step (after parseForm): authenticates the client (OAuth 2.1 §2.4); failures are 401 invalid_client. */
export async function authenticateClient(request: FastifyRequest): Promise<void> {
  request.oauthClient = await authenticate(request.server.ctx, request, request.form!);
}
