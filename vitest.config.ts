import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'default', include: ['apps/*/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'] } },
      // The authorization server's suite again on PostgreSQL (TEST_DATABASE_URL, default
      // postgres://postgres@127.0.0.1:5432/test): same behaviour on both engines. Tests under
      // apps/auth-server/test/postgres/ always use PostgreSQL and run once, in the default project.
      {
        extends: true,
        test: {
          name: 'auth-postgres',
          include: ['apps/auth-server/test/**/*.test.ts', 'test/auth-flow-sdk.test.ts'],
          // Files that never touch the store (SSRF-safe fetch, Redis limiters) gain nothing from a second run.
          exclude: [...configDefaults.exclude, 'apps/auth-server/test/postgres/**', 'apps/auth-server/test/cimd-fetch.test.ts', 'apps/auth-server/test/redis-*.test.ts'],
          env: { TEST_AUTH_DB: 'postgres' },
        },
      },
    ],
    // Real servers, real databases: forks isolate native modules and ports per file.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
