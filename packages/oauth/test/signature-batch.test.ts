import { describe, expect, it } from 'vitest';
import { createPublicKey } from 'node:crypto';
import { createSignatureBatch, nodeVerifier, signatureValid } from '../src/index.ts';
import { sign, testKey } from './jwt-fixtures.ts';

const key = await testKey('ES256');
const other = await testKey('ES256');
const verifier = nodeVerifier('ES256', createPublicKey({ key: key.publicJwk, format: 'jwk' }))!;
/** A compact JWS over `claims`, signed by `by` (ES256, RFC 7518 §3.4). */
const jws = (claims: Record<string, unknown>, by = key) => sign(by, claims);

describe('createSignatureBatch', () => {
  it('[RFC9449-PROOF-SYNTAX] each signature checked in a batch gets its own result: valid ones true, another key\'s, altered or undecodable ones false', async () => {
    const batch = createSignatureBatch();
    const good = await Promise.all(Array.from({ length: 6 }, (_, i) => jws({ jti: `g${i}` })));
    const byOther = await jws({ jti: 'o' }, other);
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
    const signed = await Promise.all(Array.from({ length: 10 }, (_, i) => jws({ jti: `t${i}` })));
    const asked = signed.map((j, i) => batch.verify(j, verifier).then((ok) => { expect(ok).toBe(true); done.push(i); }));
    // Nothing is checked during the turn that asked.
    await Promise.resolve();
    expect(done).toEqual([]);
    // An immediate queued after the first request runs after the first batch and before the second.
    const between = await new Promise<number[]>((resolve) => setImmediate(() => resolve([...done])));
    expect(between).toEqual([0, 1, 2, 3]);
    await Promise.all(asked);
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A later request starts a batch of its own.
    expect(await batch.verify(await jws({ jti: 'later' }), verifier)).toBe(true);
  });

  it('[RFC9449-PROOF-SYNTAX] the batch size must be a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => createSignatureBatch(n), String(n)).toThrow(TypeError);
  });
});
