import type { FastifyRequest } from 'fastify';
import { authenticateClient as authenticate, presentsClientCredentials, type AuthenticatedClient } from '../services/client-auth.ts';

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

/**
 * Step for the token endpoint: a grant that identifies its own client (a workload token) may come
 * without client authentication; anything else, or any request carrying credentials, authenticates.
 */
export async function identifyTokenClient(request: FastifyRequest): Promise<void> {
  const grant = request.grant;
  if (grant?.implicitClient && !presentsClientCredentials(request, request.form!)) {
    const implicit = await grant.implicitClient(request.server.ctx, request.form!, request.ip);
    if (implicit) {
      request.oauthClient = implicit;
      return;
    }
  }
  await authenticateClient(request);
}
