import { createServer, type Server } from 'node:net';

/** `n` distinct free TCP ports on 127.0.0.1, held open together while chosen so no two are the same. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A free TCP port on 127.0.0.1 (URLs must be known before the servers that name each other start). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
