import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

// Which project a test file runs in. `npm test` runs them all; `npm run test:fast` runs unit and
// integration, the quick loop: no spawned servers, no Chromium, no Node 22 tools (one CIMD case
// still uses the shared Redis, as every project does).
//   unit         packages and pure modules, in-process, no app server.
//   integration  everything else under apps/*/test and test/: the apps built with buildApp() and
//                reached through app.inject() (TEST_HTTP=inject, see test/helpers/inject-fetch.ts).
//                The gateway's tests are here too (upstream-*, gateway, servers-cli): the code they
//                test runs in the test process, while their upstream MCP servers (from npm, and
//                misbehaving fixtures) are small child processes that start in well under a second.
//   e2e          real sockets and processes: spawned servers and CLIs, Redis and PostgreSQL
//                outages, memory measurements, deployment files, the Node 22 tools.
//   browser      Chromium driving the pages.
// A new file lands in unit (under packages/) or integration (elsewhere) unless listed below.

const ALL = ['apps/*/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'];

const UNIT = [
  'packages/*/test/**/*.test.ts',
  'apps/auth-server/test/argon2-slots.test.ts',
  'apps/auth-server/test/cimd-fetch.test.ts',
  'apps/mcp-server/test/secrets.test.ts',
  'apps/mcp-server/test/secrets-cli.test.ts',
  'apps/mcp-server/test/stdio-limits.test.ts',
  'apps/mcp-server/test/upstream-sse.test.ts',
  'test/requirements-coverage.test.ts',
  'test/deploy/env-example.test.ts',
];

const E2E = [
  // Redis: a shared server and private ones the tests kill.
  'packages/redis/test/redis.test.ts',
  'packages/redis/test/wait-gate.test.ts',
  'apps/auth-server/test/redis-limiters.test.ts',
  'apps/mcp-server/test/redis-shared-state.test.ts',
  // PostgreSQL-only behaviour (outages, several instances on one database).
  'apps/auth-server/test/postgres/**/*.test.ts',
  'apps/mcp-server/test/postgres/**/*.test.ts',
  // Child processes: the apps' entry points, CLIs, stdio transport, memory under attack, mTLS.
  'apps/auth-server/test/cli-process.test.ts',
  'apps/mcp-server/test/memory-attack.test.ts',
  'apps/mcp-server/test/mtls.test.ts',
  'apps/mcp-server/test/policy.test.ts',
  'apps/mcp-server/test/stdio.test.ts',
  'apps/mcp-server/test/stdio-shutdown.test.ts',
  // Sockets a test watches itself: other source addresses, held and unread connections.
  'apps/auth-server/test/authorize-abuse.test.ts',
  'apps/mcp-server/test/http-in-flight.test.ts',
  // The demo tools run SQL in worker processes (forked per database): the tools, their time limits,
  // quotas and scheduling, and the stacks that serve them.
  'apps/mcp-server/test/e2e-auth-server.test.ts',
  'apps/mcp-server/test/sql-quota.test.ts',
  'apps/mcp-server/test/sql-scheduling.test.ts',
  'apps/mcp-server/test/tool-result-limits.test.ts',
  'apps/mcp-server/test/tools*.test.ts',
  'test/mcp-sdk-oauth.test.ts',
  'test/registration-approval-sdk.test.ts',
  // A scheduled signing-key rotation under live MCP traffic (both servers listening, real time).
  'test/key-rotation-live.test.ts',
  'test/clients/**/*.test.ts',
  'test/conformance.test.ts',
  'test/deploy/build.test.ts',
  'test/deploy/compose.test.ts',
  'test/deploy/dockerfile.test.ts',
  'test/deploy/lifecycle.test.ts',
  'test/migrations.test.ts',
  'test/quick-start.test.ts',
  'test/readme.test.ts',
  'test/startup-concurrency.test.ts',
  'test/startup-errors.test.ts',
  // Both apps with an OTLP receiver in the test (OpenTelemetry traces).
  'test/tracing.test.ts',
  // A real upstream socket, and the OpenTelemetry API's global provider set for the file.
  'apps/mcp-server/test/upstream-tracing.test.ts',
];

const BROWSER = ['test/browser/**/*.test.ts'];

// The MCP app's store-touching files, run a second time on PostgreSQL (project mcp-postgres).
const MCP_STORE_FILES = [
  'apps/mcp-server/test/api-keys.test.ts',
  'apps/mcp-server/test/secrets.test.ts',
  'apps/mcp-server/test/secrets-cli.test.ts',
  'apps/mcp-server/test/modes.test.ts',
  'apps/mcp-server/test/custom-roles.test.ts',
  'apps/mcp-server/test/cli.test.ts',
  'apps/mcp-server/test/audit-chain.test.ts',
  'apps/mcp-server/test/gateway.test.ts',
  'apps/mcp-server/test/gateway-auth.test.ts',
  'apps/mcp-server/test/servers-cli.test.ts',
];

const notIn = (...groups: string[][]) => [...configDefaults.exclude, ...groups.flat()];

// Scheduling. Vitest's default is one worker fewer than the CPUs: one on a 2-core CI machine, where
// the whole suite then ran file after file. The in-process projects (unit, integration and the two
// PostgreSQL re-runs) are CPU-bound and keep no wall-clock budgets, so they take every CPU, in the
// first group. The e2e and browser projects time real processes, sockets and Chromium, so they keep
// the default and run after them, each in its own group: none of their files shares the machine
// with an in-process worker or with the other project's files.
const IN_PROCESS = { maxWorkers: availableParallelism(), sequence: { groupOrder: 0 } };
const E2E_GROUP = { sequence: { groupOrder: 1 } };
const BROWSER_GROUP = { sequence: { groupOrder: 2 } };

export default defineConfig({
  test: {
    projects: [
      // The quick loop shares one module graph per worker (isolate: false): importing Fastify, drizzle
      // and the apps once per worker instead of once per file halves its CPU time. A worker runs its
      // files one after another and each closes what it opened, so what modules share stays idle between them.
      { extends: true, test: { name: 'unit', include: UNIT, exclude: notIn(E2E), isolate: false, ...IN_PROCESS } },
      {
        extends: true,
        test: { name: 'integration', include: ALL, exclude: notIn(UNIT, E2E, BROWSER), env: { TEST_HTTP: 'inject' }, isolate: false, ...IN_PROCESS },
      },
      // The Node 22 tools are installed before the first file starts, never inside a test's time.
      { extends: true, test: { name: 'e2e', include: E2E, globalSetup: ['test/setup/node22-tools.ts'], ...E2E_GROUP } },
      { extends: true, test: { name: 'browser', include: BROWSER, ...BROWSER_GROUP } },
      // The authorization server's suite again on PostgreSQL (TEST_DATABASE_URL, default
      // postgres://postgres@127.0.0.1:5432/test): same behaviour on both engines. Tests under
      // apps/auth-server/test/postgres/ always use PostgreSQL and run once, in the e2e project.
      {
        extends: true,
        test: {
          name: 'auth-postgres',
          include: ['apps/auth-server/test/**/*.test.ts', 'test/auth-flow-sdk.test.ts'],
          // Files that never touch the store (SSRF-safe fetch, Redis limiters) gain nothing from a second run.
          exclude: [...configDefaults.exclude, 'apps/auth-server/test/postgres/**', 'apps/auth-server/test/cimd-fetch.test.ts', 'apps/auth-server/test/redis-*.test.ts'],
          env: { TEST_AUTH_DB: 'postgres' },
          ...IN_PROCESS,
        },
      },
      // The MCP app's files that touch its own store (API keys, secrets, audit anchors, the gateway
      // reading secrets, the CLIs) again on PostgreSQL (TEST_MCP_DB=postgres, a schema per server or
      // store). Only those: the SQL tools, upstreams and transports never touch it, and CI time counts.
      {
        extends: true,
        test: {
          name: 'mcp-postgres',
          include: MCP_STORE_FILES,
          env: { TEST_MCP_DB: 'postgres', TEST_HTTP: 'inject' },
          isolate: false,
          ...IN_PROCESS,
        },
      },
    ],
    // `npm run test:coverage`: the quick loop's coverage of the apps and packages. The e2e and
    // browser projects are left out: most of what they run is in child processes v8 does not follow.
    // The thresholds sit just below the measured figures (78.4 / 72.1 / 77.2 / 81.3 %), so CI fails
    // when coverage drops; raise them when it rises.
    coverage: {
      provider: 'v8',
      include: ['apps/*/src/**/*.ts', 'packages/*/src/**/*.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: { statements: 77, branches: 71, functions: 76, lines: 80 },
    },
    // Forks isolate native modules, ports and process-wide state (umask) per file.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
