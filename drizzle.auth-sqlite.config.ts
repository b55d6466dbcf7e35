import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './packages/db/src/auth/schema.ts',
  out: './drizzle/auth-sqlite',
  casing: 'snake_case',
});
