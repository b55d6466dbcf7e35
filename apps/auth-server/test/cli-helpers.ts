import { Readable } from 'node:stream';
import type { CliIo } from '@stack/cli';
import { dispatch } from '../../../scripts/admin.ts';

export interface AdminResult { code: number; stdout: string; stderr: string }

/** Runs `npm run admin -- <args>` in-process with `env` (NODE_ENV=test) and `stdin`; its exit code and output. */
export async function admin(env: Record<string, string>, args: string[], stdin = ''): Promise<AdminResult> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdin: Readable.from(stdin ? [Buffer.from(stdin)] : []),
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    env: { NODE_ENV: 'test', ...env },
  };
  const code = await dispatch(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}
