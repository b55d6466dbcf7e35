import { join } from 'node:path';
import type { BenchOptions } from '../lib/options.ts';
import type { LoadSettings } from '../lib/load.ts';
import type { Row } from '../lib/report.ts';
import type { CpuPair } from '../lib/targets.ts';

/** State shared by the scenarios of one run. */
export interface BenchContext {
  opts: BenchOptions;
  load: LoadSettings;
  /** Temporary directory for databases, audit logs and server logs. */
  work: string;
  /** The MCP resource URL every token is issued for; every MCP-side server listens on this port in turn. */
  mcpPort: number;
  resource: string;
  /** The gateway scenarios' server on the MCP port (c.resource's origin followed by its path), with tokens of its own. */
  gatewayResource: string;
  /** The stack file every authorization server of the run reads: the shipped one plus the gateway scenarios' server. */
  stackFile: string;
  rows: Row[];
  notes: string[];
  /** Values the targets need that are not rows (e.g. RSS). */
  facts: Map<string, number>;
  /** The (2d)/(2) target's alternating bearer/DPoP rounds, in the order run. */
  dpopPairs: CpuPair[];
}

/** Whether scenario `key` ('2', 'g3') runs: --only names it, or its group ('g'), or --only is absent. */
export const wanted = (c: BenchContext, key: number | string) => {
  const k = String(key);
  return c.opts.only.size === 0 || c.opts.only.has(k) || (/^g\d$/.test(k) && c.opts.only.has('g'));
};

export function nodeFlags(c: BenchContext, name: string): string[] {
  // One directory per server: Node writes a profile per thread (main and tsx's loader thread).
  return c.opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(c.opts.cpuProfDir, name)}`] : [];
}

export const logFile = (c: BenchContext, name: string) => join(c.work, `${name}.log`);

export function record(c: BenchContext, row: Row): void {
  c.rows.push(row);
  const r = row.result;
  console.log(`  ${row.key.padEnd(14)} ${row.scenario.padEnd(58)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  ${Math.round(r.cpuPerReq)} µs/req${r.failures ? `  FAILED ${r.failures}` : ''}`);
}
