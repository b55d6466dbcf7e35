// The project's MCP server (apps/mcp-server) as a benchmark target, compiled as production runs it
// (`npm run build`; plain node with scripts/node-flags.ts, no TypeScript loader): the same
// buildApp pipeline as main.ts, configured from the environment, with one trivial tool and a policy
// allowing it. Plain JavaScript so nothing but the compiled app is loaded; the tool (name, texts and
// constant result) comes from the bench in BENCH_TOOL (scenarios/servers.ts, from trivial-tool.ts).
import { buildApp } from '../../../apps/mcp-server/dist/app.js';
import { loadMcpConfig } from '../../../apps/mcp-server/dist/config.js';
import { parsePolicy } from '../../../apps/mcp-server/dist/policy.js';

const { name, title, description, result } = JSON.parse(process.env.BENCH_TOOL ?? '');
const tool = { name, title, description, inputSchema: {}, handler: async () => result };

// The per-tool limit is set far above what one core can serve, so the benchmark is never throttled
// (the limiter still runs and counts every call).
const policy = parsePolicy({
  tools: { [name]: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'], rate_limit_per_minute: 1_000_000 } },
}, 'bench policy');

const env = { ...process.env };
delete env.BENCH_TOOL;
const config = loadMcpConfig(env, process.argv.slice(2));
const app = await buildApp(config, { tools: [tool], policy });
await app.listen({ host: config.host, port: config.port });

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => void app.close().then(() => process.exit(0), () => process.exit(1)));
}
