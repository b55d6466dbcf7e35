// The project's MCP server (apps/mcp-server) as a benchmark target: the same buildApp pipeline as
// main.ts, configured from the environment, with one trivial tool and a policy allowing it.
import { buildApp } from '../../../apps/mcp-server/src/app.ts';
import { loadMcpConfig } from '../../../apps/mcp-server/src/config.ts';
import { parsePolicy } from '../../../apps/mcp-server/src/policy.ts';
import type { ToolDefinition } from '../../../apps/mcp-server/src/tools/types.ts';
import { TOOL_DESCRIPTION, TOOL_NAME, TOOL_RESULT, TOOL_TITLE } from './trivial-tool.ts';

const tool: ToolDefinition = {
  name: TOOL_NAME,
  title: TOOL_TITLE,
  description: TOOL_DESCRIPTION,
  inputSchema: {},
  handler: async () => TOOL_RESULT,
};

// The per-tool limit is set far above what one core can serve, so the benchmark is never throttled
// (the limiter still runs and counts every call).
const policy = parsePolicy({
  tools: { [TOOL_NAME]: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'], rate_limit_per_minute: 1_000_000 } },
}, 'bench policy');

const config = loadMcpConfig(process.env, process.argv.slice(2));
const app = await buildApp(config, { tools: [tool], policy });
await app.listen({ host: config.host, port: config.port });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0), () => process.exit(1)));
}
