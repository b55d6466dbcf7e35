import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import { authorizeUrl, startAuthorization, validParams, type Browser } from './authorize-flow.ts';
import type { TestAuthServer } from './helpers.ts';

// Helpers for the federated sign-in tests: the stack file with an identity provider, and a walk
// through the test provider's pages.

const DEFAULT_STACK = readFileSync(resolve(import.meta.dirname, '../../../stack.yaml'), 'utf8');

/** The shipped stack file with the identity provider pointing at `idp`. */
export function federatedStack(idp: { issuer: string }, extra = ''): string {
  return `${DEFAULT_STACK}
identity_providers:
  - name: Corporate SSO
    issuer: ${idp.issuer}
    client_id: mcp-stack
    client_secret: \${secret:CORP_SSO_SECRET}
    scopes: [openid, email, profile, groups]
    role_rules:
      - { claim: groups, contains: mcp-admins, role: admin }
      - { claim: groups, contains: mcp-developers, role: developer }
      - { claim: email, ends_with: "@example.com", role: viewer }
${extra}`;
}

/** Follows the provider's pages for `account` from its authorization URL; returns our callback URL it sends the browser to. */
export async function idpSignIn(b: Browser, authUrl: string, account: string): Promise<string> {
  const auth = await b.get(authUrl);
  expect(auth.status, await auth.clone().text()).toBe(303);
  const interaction = b.resolve(auth.headers.get('location')!, authUrl);
  expect((await b.get(interaction)).status).toBe(200);
  const done = await b.post(interaction, { login: account });
  expect(done.status).toBe(200);
  const resume = b.resolve(/<a id="continue" href="([^"]+)">/.exec(await done.text())![1]!.replace(/&amp;/g, '&'), interaction);
  const back = await b.get(resume);
  expect(back.status).toBe(303);
  return b.resolve(back.headers.get('location')!, resume);
}

/** `url` with query parameter `name` set to `value`. */
export const withParam = (url: string, name: string, value: string) => {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.toString();
};


/** /authorize of `client` → login page → "Continue with Corporate SSO" → the provider's authorization URL. */
export async function startFederated(b: Browser, s: TestAuthServer, client: { id: string; redirectUris: string[] }): Promise<{ authUrl: string; loginUrl: string; html: string }> {
  const { loginUrl, html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
  const href = /<a class="button wide" href="([^"]+)">Continue with Corporate SSO<\/a>/.exec(html)?.[1];
  expect(href).toBeDefined();
  const start = await b.get(b.resolve(href!.replace(/&amp;/g, '&'), loginUrl));
  expect(start.status).toBe(303);
  return { authUrl: start.headers.get('location')!, loginUrl, html };
}
