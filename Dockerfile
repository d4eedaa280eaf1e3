# syntax=docker/dockerfile:1
# hrbot in one container: `docker compose up -d --build` (compose.yaml), or
#   docker build -t hrbot . && docker run --env-file .env -v hrbot-data:/data -p 3978:3978 --stop-timeout 30 hrbot
# See README.md, "Running in production".

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: TypeScript to plain JavaScript in dist/ ----------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The image's Node.js runs everything: the per-platform Node.js packages (optionalDependencies) are
# skipped, and so are install scripts (tsc needs none; better-sqlite3 ships its binaries prebuilt).
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
RUN npm run build

# --- runtime: production dependencies, the build, the sample handbook; no compiler, no npm in the signal path
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The sample handbook; mount your own over it (compose.yaml mounts ./knowledge read-only).
COPY knowledge ./knowledge
# The SQLite file and its -wal and -shm files live on the volume, owned by the unprivileged user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
ENV DATABASE_PATH=/data/hrbot.db \
    KNOWLEDGE_DIR=/app/knowledge \
    HRBOT_MODE=server \
    PORT=3978
EXPOSE 3978
USER node
# Liveness: /healthz on the bot's own port (HOST must let 127.0.0.1 in: unset, 0.0.0.0 or 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3978) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node.js itself is PID 1 (exec form, no shell, no npm): SIGTERM from `docker stop` reaches the bot,
# which drains answers in flight and exits 0, within 25 s (give it 30: --stop-timeout, stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["node", "dist/adapters/main.js"]
