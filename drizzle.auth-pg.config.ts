import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/db/src/auth/pg-schema.ts',
  out: './drizzle/auth-pg',
  casing: 'snake_case',
});
