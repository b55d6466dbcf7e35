import { ensureNode22Tools } from '../helpers/node22-tools.ts';

/**
 * Global setup of the e2e project: the pinned Node 22 tools (conformance suite, Inspector) are
 * installed once before any test file starts, so no test's time budget includes an npm install.
 */
export default function setup(): void {
  ensureNode22Tools();
}
