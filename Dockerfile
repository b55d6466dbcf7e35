# syntax=docker/dockerfile:1
# One image for both apps; the command picks which one runs (docker/entrypoint.sh):
#   docker run … IMAGE auth-server | mcp-server [--auth-mode=…] | admin <command> …
# The image runs the JavaScript `npm run build` compiles (apps/*/dist, packages/*/dist, scripts/dist),
# with plain node: no TypeScript loader at run time.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- manifests: only the package.json files and the lockfile, so the dependency layer below is
# rebuilt when dependencies change, not on every source edit. Found by search, not listed by hand,
# so a new workspace cannot be forgotten here.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /out \
 && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents {} /out \; \
 && cp package-lock.json /out/

# ---- deps: production dependencies only, native modules (better-sqlite3, argon2) compiled here
# when no prebuilt binary fits, with a toolchain that never reaches the final image.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=manifests /out/ ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
# npm ci needs the test and bench workspaces' package.json files to match the lockfile; nothing of
# them (their folders, their links under node_modules) goes on to the image.
RUN rm -rf test bench node_modules/@stack/e2e node_modules/@stack/bench
# Fail the build here, not at the first request, if a native module did not build.
RUN node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get(); require('argon2')"

# ---- build: every dependency (TypeScript among them) to compile the sources; only the compiled
# dist folders leave this stage. No install scripts: nothing native is needed to compile.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY --from=manifests /out/ ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps/ ./apps/
COPY packages/ ./packages/
COPY scripts/ ./scripts/
RUN npm run build \
 && mkdir /out \
 && find apps packages scripts -type d -name dist -prune -exec cp -r --parents {} /out \;

# ---- runtime: no compiler, no dev dependencies, no tests, runs as the unprivileged `node` user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/data \
    AUTH_HOST=0.0.0.0 \
    AUTH_PORT=4000 \
    MCP_HOST=0.0.0.0 \
    MCP_PORT=4001
WORKDIR /app
# Code and dependencies belong to root and are read-only for the app user; only /data is writable.
# .dockerignore keeps every test folder, test file and dev config out of the context these copy from.
COPY --from=deps /app/ ./
COPY --from=build /out/ ./
COPY package.json stack.yaml ./
COPY apps/mcp-server/policy.yaml ./apps/mcp-server/
COPY drizzle/ ./drizzle/
COPY docker/entrypoint.sh docker/healthcheck.mjs ./docker/
RUN chmod 0755 docker/entrypoint.sh \
 && ln -s /app/docker/entrypoint.sh /usr/local/bin/stack \
 && mkdir -p /data \
 && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000 4001
# /ready of whichever app runs here (the database answers, keys or policy are loaded).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/docker/healthcheck.mjs"]
# The entrypoint execs node, so SIGTERM reaches the app and its graceful shutdown.
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["auth-server"]
