#!/bin/sh
# Container entrypoint: the first argument names what to run. `exec` hands PID 1 (or the slot
# under `init: true`) to node, so SIGTERM reaches the app's graceful shutdown directly.
set -eu
cd /app
cmd="${1:-auth-server}"
[ "$#" -gt 0 ] && shift
case "$cmd" in
  auth-server) exec node --import tsx apps/auth-server/src/main.ts "$@" ;;
  mcp-server)  exec node --import tsx apps/mcp-server/src/main.ts "$@" ;;
  admin)       exec node --import tsx scripts/admin.ts "$@" ;;
  *)           exec "$cmd" "$@" ;;
esac
