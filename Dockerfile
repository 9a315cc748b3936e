# syntax=docker/dockerfile:1
# The gateway as an image: compiled to plain JavaScript in `build`, run from dist/ with production
# dependencies only in `runtime` (the default target), as the unprivileged `node` user, with node itself
# as PID 1 so SIGTERM reaches the gateway's graceful shutdown. Nothing secret is baked in: configuration
# comes from the environment at `docker run` / compose time. `simulator` is the bundled OpenAI simulator,
# for trying the stack without a key (compose.yaml's "simulator" profile).
#
# No container engine runs where this project is built and tested: scripts/check-deploy-kit.ts runs this
# file's own RUN, HEALTHCHECK and CMD commands in a sandbox instead (see docs/production.md).

ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The image has its Node already, so --omit=optional leaves out the one the package brings.
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json app.ts server.ts node-version.js LICENSE ./
COPY config ./config
COPY plugins ./plugins
COPY routes ./routes
COPY schemas ./schemas
COPY services ./services
COPY scripts/build.ts ./scripts/
RUN npm run build

FROM build AS simulator
COPY simulator ./simulator
USER node
ENV SIM_HOST=0.0.0.0 \
    SIM_PORT=4010
EXPOSE 4010
CMD ["node", "simulator/cli.ts"]

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    SQLITE_PATH=/data/gateway.db \
    UPLOAD_TMP_DIR=/data/uploads
WORKDIR /app
COPY --from=build /src/dist ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
# /data is the one writable place: the SQLite store (STORE=sqlite) and upload spools.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# The slim image has no curl; node asks /health/ready (store answers, not draining) over HTTP, or HTTPS
# when the gateway serves TLS itself (its own certificate, hence no verification on loopback).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "require(process.env.TLS_CERT_FILE ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: process.env.PORT, path: '/health/ready', rejectUnauthorized: false, timeout: 4000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=20", "server.js"]
