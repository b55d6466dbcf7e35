#!/bin/sh
# Container entrypoint: the first argument names what to run. `exec` hands PID 1 (or the slot
# under `init: true`) to node, so SIGTERM reaches the app's graceful shutdown directly. The apps run
# compiled (`npm run build`) with the flags of scripts/node-flags.ts (why each is there is said
# there): --conditions=stack-compiled resolves the workspace packages to their compiled files, the
# heap sizes keep the servers' memory to what they use. The admin CLI needs only the first.
set -eu
cd /app
cmd="${1:-auth-server}"
[ "$#" -gt 0 ] && shift
case "$cmd" in
  auth-server) exec node --conditions=stack-compiled --max-old-space-size=256 --max-semi-space-size=4 apps/auth-server/dist/main.js "$@" ;;
  mcp-server)  exec node --conditions=stack-compiled --max-old-space-size=256 --max-semi-space-size=4 apps/mcp-server/dist/main.js "$@" ;;
  admin)       exec node --conditions=stack-compiled scripts/dist/admin.js "$@" ;;
  *)           exec "$cmd" "$@" ;;
esac
