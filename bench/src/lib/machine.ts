import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';

/** What the results were measured on: printed with every table. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  date: string;
  /** How servers and the load generator were placed on CPUs. */
  placement: string;
  /** 1-minute load average when the run started: other work on the machine skews absolute numbers. */
  loadAverage: number;
}

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
// Read before pinSelf() narrows this process's affinity (availableParallelism follows it).
const CPU_COUNT = availableParallelism();

/**
 * With two or more CPUs and taskset, servers run on CPU 1 and the load generator (this process
 * and the login driver) on CPU 0, so the two never compete for a core.
 */
export const pinning = hasTaskset && CPU_COUNT >= 2;
export const SERVER_CPU = '1';
export const LOAD_CPU = '0';

/** Pins this process (every thread: -a) to the load generator's CPU. */
export function pinSelf(): void {
  if (pinning) spawnSync('taskset', ['-a', '-cp', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });
}

/**
 * Moves a running process, every thread included (libuv's pool, where argon2 runs), to one CPU.
 * Scenario 7 moves the authorization server next to the load generator so that the MCP server keeps
 * CPU 1 to itself, as in (2).
 */
export function moveToCpu(pid: number, cpu: string): void {
  if (pinning) spawnSync('taskset', ['-a', '-cp', cpu, String(pid)], { stdio: 'ignore' });
}

/** The command that starts a server process: `taskset -c 1 node …` when pinning, else `node …`. */
export function serverCommand(args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', SERVER_CPU, process.execPath, ...args]] : [process.execPath, args];
}

export function loadCommand(args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', LOAD_CPU, process.execPath, ...args]] : [process.execPath, args];
}

export function machineInfo(): MachineInfo {
  return {
    cpus: CPU_COUNT,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadAverage: loadavg()[0] ?? Number.NaN,
    placement: pinning
      ? `each server pinned to CPU ${SERVER_CPU} (taskset -c ${SERVER_CPU}); autocannon and the login driver on CPU ${LOAD_CPU}; during (7) the authorization server moves to CPU ${LOAD_CPU} too`
      : 'not pinned (taskset unavailable or a single CPU): servers and load generator share the CPUs',
  };
}
