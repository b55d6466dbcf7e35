import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createSignatureBatch, nodeVerifier, signatureValid } from '../src/index.ts';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const verifier = nodeVerifier('ES256', publicKey)!;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A compact JWS over `claims`, signed by `key` (ES256, RFC 7518 §3.4). */
function jws(claims: Record<string, unknown>, key = privateKey): string {
  const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256' })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

describe('createSignatureBatch', () => {
  it('[RFC9449-PROOF-SYNTAX] each signature checked in a batch gets its own result: valid ones true, another key\'s, altered or undecodable ones false', async () => {
    const batch = createSignatureBatch();
    const good = Array.from({ length: 6 }, (_, i) => jws({ jti: `g${i}` }));
    const byOther = jws({ jti: 'o' }, other.privateKey);
    const [h, c, s] = good[0]!.split('.') as [string, string, string];
    const altered = `${h}.${c}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    const asked = [good[0]!, byOther, good[1]!, altered, good[2]!, `${h}.${c}.%%%`, good[3]!, `${h}.${c}.`, good[4]!, good[5]!];
    const results = await Promise.all(asked.map((j) => batch.verify(j, verifier)));
    expect(results).toEqual([true, false, true, false, true, false, true, false, true, true]);
    // The same answers as the check on the spot.
    expect(asked.map((j) => signatureValid(j, verifier))).toEqual(results);
  });

  it('[RFC9449-PROOF-SYNTAX] signatures asked for in one turn are checked together after it, at most maxPerTurn at a time, with the event loop served between', async () => {
    const batch = createSignatureBatch(4);
    const done: number[] = [];
    const asked = Array.from({ length: 10 }, (_, i) => batch.verify(jws({ jti: `t${i}` }), verifier).then((ok) => { expect(ok).toBe(true); done.push(i); }));
    // Nothing is checked during the turn that asked.
    await Promise.resolve();
    expect(done).toEqual([]);
    // An immediate queued after the first request runs after the first batch and before the second.
    const between = await new Promise<number[]>((resolve) => setImmediate(() => resolve([...done])));
    expect(between).toEqual([0, 1, 2, 3]);
    await Promise.all(asked);
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A later request starts a batch of its own.
    expect(await batch.verify(jws({ jti: 'later' }), verifier)).toBe(true);
  });

  it('[RFC9449-PROOF-SYNTAX] the batch size must be a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => createSignatureBatch(n), String(n)).toThrow(TypeError);
  });
});
