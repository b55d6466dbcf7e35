import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/db/src/mcp/pg-schema.ts',
  out: './drizzle/mcp-pg',
  casing: 'snake_case',
});
