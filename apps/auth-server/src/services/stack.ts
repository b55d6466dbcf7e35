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
  const derive = (s: StackConfig) => ({ resources: Object.freeze(s.resourceUrls(config.mcpPublicOrigin)), scopes: Object.freeze(Object.keys(s.scopes)) });
  let derived = derive(reloader.current());
  return {
    current: () => reloader.current(),
    resources: () => derived.resources,
    scopes: () => derived.scopes,
    reload() {
      if (!reloader.reload()) return false;
      derived = derive(reloader.current());
      log.info(`stack file reloaded (${derived.scopes.length} scopes, ${derived.resources.length} servers)`);
      return true;
    },
  };
}
