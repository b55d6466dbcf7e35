/** GETs a JSON document with a timeout, no redirects and a cap on the body size (read as it streams). */
export async function fetchJson(
  doFetch: typeof fetch,
  url: URL | string,
  opts: { maxBytes: number; timeoutMs: number; accept?: string },
): Promise<unknown> {
  const res = await doFetch(url, {
    headers: { accept: opts.accept ?? 'application/json' },
    // A redirect could point the verifier at keys or lists we do not trust.
    redirect: 'error',
    signal: AbortSignal.timeout(opts.timeoutMs),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`${String(url)} answered HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length'));
  if (declared > opts.maxBytes) {
    await res.body?.cancel();
    throw new Error(`${String(url)} response is larger than ${opts.maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.byteLength;
      if (size > opts.maxBytes) throw new Error(`${String(url)} response is larger than ${opts.maxBytes} bytes`);
      chunks.push(chunk);
    }
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}
