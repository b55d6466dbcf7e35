import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './packages/db/src/mcp/schema.ts',
  out: './drizzle/mcp-sqlite',
  casing: 'snake_case',
});
