import { createStackFileReloader, StackFileError, type StackConfig } from '@stack/stack-config';
import type { AuthConfig } from '../config.ts';

/**
 * The stack file as the authorization server uses it: the scopes it issues, the scopes each role
 * may be granted, the consent sentences, and the RFC 8707 resources it issues tokens for (the MCP
 * app's public origin followed by each server's path). Read at start and again on reload(); every
 * request reads current(), so a reloaded file applies from the next request on.
 */
export interface AuthStack {
  current(): StackConfig;
  /** The accepted `resource` values for current(), in the file's server order. */
  resources(): readonly string[];
  /** The scopes current() declares, in the file's order: what clients may ask for and scopes_supported. */
  scopes(): readonly string[];
  /**
   * The scopes the server at `resource` (one of resources()) uses: those its rules name and those
   * that imply them (scope_implies), in the file's order.
   */
  scopesFor(resource: string): readonly string[];
  /** Reads the file again (main.ts calls it on SIGHUP); an invalid file is refused and the running one kept. */
  reload(): boolean;
}

export interface AuthStackLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Loads the stack file named by STACK_FILE; throws StackFileError (every problem listed) when it cannot be used. */
export function openAuthStack(config: AuthConfig, log: AuthStackLog): AuthStack {
  const reloader = createStackFileReloader(config.stackFile, { env: config.env }, {
    // A role taken out of the file may still be held by users: they are refused new tokens
    // (grantableScopes, activeUser) until an operator gives them a declared role.
    onChange(next) {
      const removed = reloader.current().roles.filter((r) => !next.roles.includes(r));
      if (removed.length) log.warn(`stack file no longer declares role(s) ${removed.join(', ')}: users who hold them get no new tokens until given a declared role (npm run admin -- users set-role)`);
    },
    // One line: the file's problems are joined, each as `path: message` (never a value).
    onError: (err) => log.error(`stack file not reloaded, keeping the previous one: ${err instanceof StackFileError ? `${err.source}: ${err.problems.join('; ')}` : (err as Error).message}`),
  });
  // Derived once per file, not per request.
  const derive = (s: StackConfig) => {
    // A server whose entry takes only API keys has no use for an access token: none is issued for
    // it. One that names no auth follows the MCP app's MCP_AUTH_MODE, which this server cannot see.
    const allUrls = s.resourceUrls(config.mcpPublicOrigin);
    const served = s.servers.flatMap((srv, i) => (srv.auth === undefined || srv.auth.includes('oauth') ? [{ srv, url: allUrls[i]! }] : []));
    const declared = Object.keys(s.scopes);
    const used = new Map(served.map(({ srv, url }) => {
      const needed = new Set(srv.scopesSupported);
      return [url, Object.freeze(declared.filter((sc) => needed.has(sc) || [...srv.expand([sc])].some((x) => needed.has(x))))];
    }));
    return { resources: Object.freeze(served.map((x) => x.url)), scopes: Object.freeze(declared), used };
  };
  let derived = derive(reloader.current());
  return {
    current: () => reloader.current(),
    resources: () => derived.resources,
    scopes: () => derived.scopes,
    scopesFor: (resource) => derived.used.get(resource) ?? [],
    reload() {
      if (!reloader.reload()) return false;
      derived = derive(reloader.current());
      log.info(`stack file reloaded (${derived.scopes.length} scopes, ${derived.resources.length} servers)`);
      return true;
    },
  };
}
