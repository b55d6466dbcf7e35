import { createUser } from '../../apps/auth-server/src/services/users.ts';
import { freePorts, startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { startMcpServer, type TestMcpServer } from '../../apps/mcp-server/test/helpers.ts';
import { createDemoTools } from '../../apps/mcp-server/src/tools/index.ts';
import type { Role } from '@stack/oauth';

export const PASSWORD = 'correct horse battery staple';

export interface Stack {
  auth: TestAuthServer;
  mcp: TestMcpServer;
  /** Creates a user with PASSWORD and returns its email. */
  user(role: Role): Promise<string>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Both servers on 127.0.0.1 free ports, wired as in production: the MCP server trusts the auth
 * server's issuer and JWKS; the auth server issues tokens for the MCP URL; real demo tools.
 */
export async function startStack(opts: { authEnv?: Record<string, string>; mcpEnv?: Record<string, string> } = {}): Promise<Stack> {
  const [authPort, mcpPort] = await freePorts(2);
  // The shipped stack.yaml's one server is at /mcp on the MCP app.
  const auth = await startAuthServer({ AUTH_PORT: String(authPort), MCP_PUBLIC_ORIGIN: `http://127.0.0.1:${mcpPort}`, ...opts.authEnv });
  const demoDir = `${auth.dataDir}/demo`;
  const demo = createDemoTools({ databasePath: `${demoDir}/demo.db` });
  const mcp = await startMcpServer(
    { MCP_PORT: String(mcpPort), AUTH_ISSUER: auth.url, REVOCATION_POLL_SECONDS: '1', ...opts.mcpEnv },
    { tools: demo.tools },
  );
  let n = 0;
  const close = async () => {
    await mcp.close();
    await demo.close();
    await auth.close();
  };
  return {
    auth,
    mcp,
    async user(role) {
      const email = `${role}-${++n}@example.com`;
      await createUser(auth.app.ctx, { email, password: PASSWORD, role });
      return email;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
