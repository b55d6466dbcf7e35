#!/bin/sh
# Container entrypoint: the first argument names what to run. `exec` hands PID 1 (or the slot
# under `init: true`) to node, so SIGTERM reaches the app's graceful shutdown directly. The apps run
# compiled (`npm run build`); --conditions=stack-compiled makes the workspace packages resolve to
# their compiled dist files too (see their package.json exports).
set -eu
cd /app
cmd="${1:-auth-server}"
[ "$#" -gt 0 ] && shift
case "$cmd" in
  auth-server) exec node --conditions=stack-compiled apps/auth-server/dist/main.js "$@" ;;
  mcp-server)  exec node --conditions=stack-compiled apps/mcp-server/dist/main.js "$@" ;;
  admin)       exec node --conditions=stack-compiled scripts/dist/admin.js "$@" ;;
  *)           exec "$cmd" "$@" ;;
esac
