import { spawn, type ChildProcess } from 'node:child_process';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';
import { limitLines } from '../message-limits.ts';

/** stderr lines kept for health, and the length each is cut to. */
const STDERR_LINES = 5;
const STDERR_LINE_CHARS = 200;

export interface ChildSpec {
  command: string;
  args: string[];
  /** The child's whole environment (the caller builds it: no inheritance here). */
  env: Record<string, string>;
  cwd?: string;
  maxLineBytes: number;
  /** SIGTERM to SIGKILL when the SDK closes the transport. */
  killGraceMs: number;
  /** Told how the child ended before its transport closes, so calls in flight fail with that reason. */
  onExit(reason: string): void;
}

export interface Child {
  readonly pid: number | undefined;
  /** The SDK transport over the child's stdin and stdout (one JSON-RPC message per line). */
  readonly transport: Transport;
  /** Resolves when the child has exited, with how it ended (our words). */
  readonly exited: Promise<string>;
  /** The last few stderr lines, cut short; never sent to callers. */
  stderrTail(): string[];
  /** Marks the child faulty (the reason becomes its exit message) and stops it. */
  fault(reason: string): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
  stop(graceMs: number): Promise<void>;
}

/** Signals the child's process group, so helpers it started (npx, shells) stop with it. */
function signal(child: ChildProcess, sig: NodeJS.Signals) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (child.pid !== undefined) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    child.kill(sig);
  }
}

/**
 * Starts an upstream MCP server as a child process. Its stdout is read through `limitLines`, so
 * a line over `maxLineBytes` is dropped as it arrives and never buffered; such a line, or any line
 * that is not a JSON-RPC message, faults the child (MCP stdio: the server MUST NOT write anything
 * else to stdout, so the stream can no longer be trusted) and it is stopped. stderr is drained
 * and only its last few lines kept.
 */
export function startChild(spec: ChildSpec): Child {
  const proc = spawn(spec.command, spec.args, {
    env: spec.env,
    cwd: spec.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    shell: false,
    // Its own process group (see signal()); it still ends with us when its stdin closes.
    detached: true,
    windowsHide: true,
  });
  let reason: string | undefined;
  const tail: string[] = [];
  let partial = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = (lines.pop() ?? '').slice(0, STDERR_LINE_CHARS);
    for (const line of lines) {
      if (line.trim() === '') continue;
      tail.push(line.slice(0, STDERR_LINE_CHARS));
      if (tail.length > STDERR_LINES) tail.shift();
    }
  });
  proc.stdin.on('error', () => {});
  proc.stdout.on('error', () => {});
  proc.stderr.on('error', () => {});

  const transport: Transport = {
    async start() {},
    async send(message: JSONRPCMessage) {
      if (!proc.stdin.writable) throw new Error('upstream stdin closed');
      proc.stdin.write(JSON.stringify(message) + '\n');
    },
    async close() {
      void stop(spec.killGraceMs);
    },
  };

  const fault = (why: string) => {
    reason ??= why;
    signal(proc, 'SIGKILL');
  };

  const oversized = () => fault(`sent a message over the limit of ${spec.maxLineBytes} bytes`);
  const lines = limitLines(spec.maxLineBytes, oversized);
  // limitLines reports a long line at its newline; the bytes after the last newline are counted
  // here too, so a child writing an endless line is stopped as soon as it passes the limit.
  let open = 0;
  proc.stdout.on('data', (chunk: Buffer) => {
    const nl = chunk.lastIndexOf(10);
    open = nl === -1 ? open + chunk.length : chunk.length - nl - 1;
    if (open > spec.maxLineBytes) oversized();
  });
  proc.stdout.pipe(lines);
  lines.on('data', (line: Buffer) => {
    if (reason) return;
    const text = line.toString('utf8').trim();
    if (text === '') return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return fault('wrote output that is not JSON-RPC');
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message) || (message as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      return fault('wrote output that is not JSON-RPC');
    }
    transport.onmessage?.(message as JSONRPCMessage);
  });

  const exited = new Promise<string>((resolve) => {
    proc.once('error', (err: NodeJS.ErrnoException) => {
      // spawn failed (no such command): no 'exit' follows.
      if (proc.pid === undefined) {
        reason ??= `could not be started (${err.code ?? 'error'})`;
        resolve(reason);
      }
    });
    proc.once('exit', (code, sig) => resolve(reason ?? (sig ? `exited on ${sig}` : `exited with code ${code}`)));
  });
  void exited.then((why) => {
    spec.onExit(why);
    transport.onclose?.();
  });

  async function stop(graceMs: number) {
    proc.stdin.end();
    signal(proc, 'SIGTERM');
    const timer = setTimeout(() => signal(proc, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    proc.stdout.destroy();
    proc.stderr.destroy();
  }

  return {
    get pid() {
      return proc.pid;
    },
    transport,
    exited,
    stderrTail: () => [...tail],
    fault,
    stop,
  };
}
