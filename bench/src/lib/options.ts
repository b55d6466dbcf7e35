import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  connections: number;
  /** Measured seconds per scenario. */
  duration: number;
  warmup: number;
  /** Scenarios to run, as given to --only ('2', 'g', 'g3'); all when empty. */
  only: Set<string>;
  /** Write V8 CPU profiles of the server processes into this directory. */
  cpuProfDir: string | undefined;
  /** Where the markdown table goes (undefined: do not write). */
  out: string | undefined;
  /** Stored refresh tokens and clients of scenario 6's large data set. */
  largeTokens: number;
  largeClients: number;
  /** Logins per second in scenario 7. */
  loginRate: number;
  /** The (2d)/(2) target's alternating rounds: bearer/DPoP pairs, and the measured seconds of each round. */
  dpopPairs: { pairs: number; seconds: number };
}

const HELP = `npm run bench [-- options]
  --quick             short runs and a small data set (checks that everything works, ~1 min)
  --connections=N     concurrent connections per scenario (default 10)
  --duration=S        measured seconds per scenario (default 10; 2 with --quick)
  --only=1,2,7        run only these scenarios (2d: DPoP; g: the four gateway scenarios, g1…g4 one of them)
  --cpu-prof=DIR      write V8 CPU profiles of the servers into DIR
  --out=FILE          results file (default bench/results.md; --quick writes nothing unless given)`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      connections: { type: 'string' },
      duration: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const num = (v: string | undefined, d: number, name: string) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const quick = values.quick;
  const only = new Set((values.only ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
  const unknown = [...only].filter((s) => !/^(?:[1-7]|2d|g[1-4]?)$/.test(s));
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')} (1 to 7, 2d, g, g1 to g4)`);
  return {
    quick,
    connections: num(values.connections, 10, 'connections'),
    duration: num(values.duration, quick ? 2 : 10, 'duration'),
    warmup: quick ? 0.5 : 2,
    only,
    cpuProfDir: values['cpu-prof'],
    out: values.out ?? (quick ? undefined : 'results.md'),
    largeTokens: quick ? 20_000 : 1_000_000,
    largeClients: quick ? 2_000 : 100_000,
    loginRate: 20,
    dpopPairs: quick ? { pairs: 2, seconds: 1 } : { pairs: 6, seconds: 3 },
  };
}
