import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { randomToken, tokenHash } from '@stack/crypto';
import { createArgon2Slots } from '../../../apps/auth-server/src/services/argon2-slots.ts';
import { hashSecret } from '../../../apps/auth-server/src/services/users.ts';
import { hashClientSecret } from '../../../apps/auth-server/src/services/client-secrets.ts';
import type { RowSink } from './sinks.ts';

export const REDIRECT_URI = 'http://127.0.0.1:7777/callback';
export const PUBLIC_CLIENT = 'bench-public';
export const CONFIDENTIAL_CLIENT = 'bench-confidential';
export const USER_PASSWORD = 'bench password 0123456789';
/** What the bench's grants carry: the developer role holds both. */
export const GRANT_SCOPE = 'db:read db:write';

export interface SeedSpec {
  resource: string;
  /** Users (argon2id hashed, developer role) with a consent to the public client on record (a public client still sees the screen each time). */
  users: number;
  /** Clients in all, the two bench clients included. */
  clients: number;
  /** Refresh tokens stored before the run, spread over the clients. */
  backgroundTokens: number;
  /** Unused authorization codes for the code grant (each request needs its own). */
  codes: number;
  /** Refresh tokens handed to the load generator, one list per run (chains start from them). */
  chainSets: number[];
  /** How many background tokens of the confidential client are kept for introspection. */
  sampleSize: number;
  /** Other resources (gateway servers' paths), each with unused codes for that many users (one access token each). */
  otherResources?: { resource: string; codes: number }[];
}

export interface Seeded {
  users: { email: string; password: string }[];
  confidentialSecret: string;
  codes: { code: string; verifier: string }[];
  /** The codes of each `otherResources` entry, each for another user. */
  codesFor: Map<string, { code: string; verifier: string }[]>;
  chainSets: string[][];
  /** Background refresh tokens issued to the confidential client (introspection targets). */
  sample: string[];
  rows: number;
}

const COLUMNS = {
  users: ['id', 'email', 'password_hash', 'role', 'created_at', 'disabled_at'],
  clients: ['id', 'source', 'secret_hash', 'client_name', 'redirect_uris', 'grant_types', 'token_endpoint_auth_method', 'application_type', 'scope', 'metadata', 'created_at', 'metadata_expires_at', 'revoked_at'],
  consents: ['user_id', 'client_id', 'resource', 'scope', 'created_at'],
  authorization_codes: ['code_hash', 'client_id', 'user_id', 'redirect_uri', 'code_challenge', 'resource', 'scope', 'created_at', 'expires_at', 'consumed_at'],
  refresh_tokens: ['id', 'token_hash', 'family_id', 'client_id', 'user_id', 'scope', 'resource', 'code_hash', 'created_at', 'expires_at', 'rotated_at', 'successor_id', 'successor_sealed', 'revoked_at'],
} as const;

const DAY = 86_400_000;

function clientRow(id: string, method: 'none' | 'client_secret_basic', secretHash: string | null, now: number): unknown[] {
  const grantTypes = ['authorization_code', 'refresh_token'];
  const metadata = { client_name: id, redirect_uris: [REDIRECT_URI], grant_types: grantTypes, token_endpoint_auth_method: method };
  return [id, 'admin', secretHash, id, JSON.stringify([REDIRECT_URI]), JSON.stringify(grantTypes), method, 'native', 'db:read db:write db:admin', JSON.stringify(metadata), now, null, null];
}

function refreshRow(token: string, clientId: string, userId: string, resource: string, now: number): unknown[] {
  return [randomUUID(), tokenHash(token), randomUUID(), clientId, userId, GRANT_SCOPE, resource, null, now, now + 30 * DAY, null, null, null, null];
}

/**
 * Fills an authorization server database the way real use would have: users, clients, remembered
 * consents, unused codes and refresh tokens (hashes only, as the server stores them). Each table is
 * one bulk insert (a prepared statement in one transaction on SQLite).
 */
export async function seedAuthDb(sink: RowSink, spec: SeedSpec): Promise<Seeded> {
  const now = Date.now();
  let rows = 0;

  const users = Array.from({ length: spec.users }, (_, i) => ({ id: randomUUID(), email: `bench-user-${i}@example.com`, password: USER_PASSWORD }));
  const passwordHash = await hashSecret(createArgon2Slots(), USER_PASSWORD);
  rows += await sink.insert('users', COLUMNS.users, users.map((u) => [u.id, u.email, passwordHash, 'developer', now, null]));

  const confidentialSecret = randomBytes(32).toString('base64url');
  const confidentialHash = hashClientSecret(confidentialSecret);
  const fillers = Math.max(0, spec.clients - 2);
  const fillerId = (i: number) => `bench-filler-${i}`;
  rows += await sink.insert('clients', COLUMNS.clients, (function* () {
    yield clientRow(PUBLIC_CLIENT, 'none', null, now);
    yield clientRow(CONFIDENTIAL_CLIENT, 'client_secret_basic', confidentialHash, now);
    for (let i = 0; i < fillers; i++) yield clientRow(fillerId(i), 'none', null, now);
  })());

  rows += await sink.insert('consents', COLUMNS.consents, users.map((u) => [u.id, PUBLIC_CLIENT, spec.resource, GRANT_SCOPE, now]));

  const codes: Seeded['codes'] = [];
  const codesFor: Seeded['codesFor'] = new Map();
  const codeRow = (i: number, resource: string) => {
    const code = randomToken(32);
    const verifier = randomToken(32);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    // Valid for the whole run (the server issues codes for at most 60 s; only the stored expiry is checked).
    return { pair: { code, verifier }, row: [tokenHash(code), PUBLIC_CLIENT, users[i % users.length]!.id, REDIRECT_URI, challenge, resource, GRANT_SCOPE, now, now + DAY, null] };
  };
  rows += await sink.insert('authorization_codes', COLUMNS.authorization_codes, (function* () {
    for (let i = 0; i < spec.codes; i++) {
      const { pair, row } = codeRow(i, spec.resource);
      codes.push(pair);
      yield row;
    }
    for (const { resource, codes: n } of spec.otherResources ?? []) {
      const pairs = Array.from({ length: n }, (_, i) => codeRow(i, resource));
      codesFor.set(resource, pairs.map((p) => p.pair));
      yield* pairs.map((p) => p.row);
    }
  })());

  const sample: string[] = [];
  const chainSets = spec.chainSets.map(() => [] as string[]);
  rows += await sink.insert('refresh_tokens', COLUMNS.refresh_tokens, (function* () {
    // One in every `stride` background tokens belongs to the confidential client, so the sample is spread over the table.
    const stride = Math.max(1, Math.floor(spec.backgroundTokens / Math.max(1, spec.sampleSize)));
    for (let i = 0; i < spec.backgroundTokens; i++) {
      const token = randomToken(32);
      const own = i % stride === 0 && sample.length < spec.sampleSize;
      if (own) sample.push(token);
      const client = own ? CONFIDENTIAL_CLIENT : fillers > 0 ? fillerId(i % fillers) : PUBLIC_CLIENT;
      yield refreshRow(token, client, users[i % users.length]!.id, spec.resource, now);
    }
    for (const [s, n] of spec.chainSets.entries()) {
      for (let i = 0; i < n; i++) {
        const token = randomToken(32);
        chainSets[s]!.push(token);
        yield refreshRow(token, PUBLIC_CLIENT, users[i % users.length]!.id, spec.resource, now);
      }
    }
  })());

  return { users: users.map(({ email, password }) => ({ email, password })), confidentialSecret, codes, codesFor, chainSets, sample, rows };
}
