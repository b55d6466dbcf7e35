import * as authorizationCode from './authorization-code.ts';
import * as clientCredentials from './client-credentials.ts';
import * as jwtBearer from './jwt-bearer.ts';
import * as refreshToken from './refresh-token.ts';
import type { Grant } from './grant.ts';

const all: readonly Grant[] = [authorizationCode, refreshToken, clientCredentials, jwtBearer];

/** The grant types this server implements (a Map, so a grant_type such as "constructor" finds nothing). */
export const grants: ReadonlyMap<string, Grant> = new Map(all.map((g) => [g.grantType, g]));
