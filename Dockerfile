# llm-router: CPU-only image in two stages. `build` installs everything, compiles the TypeScript
# to dist/ and generates the built-in tiny model; `runtime` holds production dependencies,
# dist/, config/ and the models (tiny.gguf included), and runs plain node (no tsx) as the
# unprivileged node user. Nothing under /app is written at run time but /app/data, so the root
# filesystem may be read-only (deploy/compose.yaml, deploy/k8s/deployment.yaml).
#
#   docker build -t llm-router . && docker run -p 8080:8080 -e ROUTER_API_KEY=… llm-router
#   docker build --build-arg NODE_VERSION=20 …   # the other supported Node (package.json engines)

ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# The lockfile lists every platform's node-llama-cpp build and npm installs this machine's CPU
# one (linux-x64 or linux-arm64; both need glibc, hence bookworm, not alpine). package.json
# `overrides` put the empty vendor/no-gpu stub in place of the CUDA/Vulkan builds, so vendor/
# must be there before the install. No install script is needed: --ignore-scripts.
COPY package.json package-lock.json ./
COPY vendor ./vendor
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY providers ./providers
COPY models ./models
# The tiny model now, not at first use: the runtime image's models/ is not writable.
RUN npm run build && npm run model:tiny

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    ROUTER_CONFIG=/app/config/router.yaml \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
COPY vendor ./vendor
# Production dependencies only. typescript survives --omit=dev as node-llama-cpp's optional peer
# (only its `inspect gpu` CLI imports it): the build is done, drop it (23 MB).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# The dashboard's page (served from the package, no build step) and the CLI shim.
COPY assets ./assets
COPY bin ./bin
# Data files are read from the package root, not from dist/ (models/paths.ts).
COPY models/registry.yaml models/corpus.txt models/README.md ./models/
COPY --from=build /app/models/tiny.gguf ./models/tiny.gguf
# The router's state (keys made through /admin/keys, the generated key secret, the usage ledger,
# usage records spilled while Redis is down, the audit log) goes to /app/data (config/router.yaml:
# state.dataDir ../data; mount a volume there to keep it), written by the node user (uid 1000).
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME /app/data

USER node
# 8080: the API (/v1). 9090: the operator listener, when the config sets server.adminListen.
EXPOSE 8080 9090
# With HOST=0.0.0.0 the router requires client keys: set ROUTER_API_KEY (see README).
# HEALTH_PORT: the operator listener's port when there is one (it answers /healthz until the end
# of a drain, and stays plain HTTP when the main listener has TLS).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# main.ts drains on SIGTERM (server.drainMs); give `docker stop` more: -t 30 or more.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
