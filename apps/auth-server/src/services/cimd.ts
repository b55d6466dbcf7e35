import type { AppContext } from '../context.ts';
import type { ClientRecord } from './clients.ts';
import { invalidClient } from '@stack/oauth';

// TODO(issue 2, CIMD helper): replaced by the SSRF-safe fetch + cache implementation.
export async function resolveCimdClient(_ctx: AppContext, _url: string): Promise<ClientRecord | undefined> {
  throw invalidClient('client id metadata documents are not supported');
}
