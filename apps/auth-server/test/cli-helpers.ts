import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
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

const ROOT = resolve(import.meta.dirname, '../../..');

/** Runs `node --import tsx scripts/admin.ts …` as the operator would (a process of its own), with stdin piped in. */
export function adminProcess(env: Record<string, string>, args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/admin.ts', ...args], {
      cwd: ROOT,
      // Only what the CLI needs: no settings leak in from the developer's shell.
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}
