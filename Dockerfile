# llm-router: CPU-only image in two stages. `build` installs everything and compiles the
# TypeScript to dist/; `runtime` holds production dependencies, dist/, config/ and the model
# registry, and runs plain node (no tsx). The built-in tiny model is generated at first use.
#
#   docker build -t llm-router . && docker run -p 8080:8080 -e ROUTER_API_KEY=… llm-router

FROM node:22-bookworm-slim AS build
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
RUN npm run build

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    ROUTER_CONFIG=/app/config/router.yaml \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
COPY vendor ./vendor
# typescript survives --omit=dev as node-llama-cpp's optional peer (only its `inspect gpu` CLI
# imports it): the build is done, drop it (23 MB).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# Data files are read from the package root, not from dist/ (models/paths.ts).
COPY models/registry.yaml models/corpus.txt models/README.md ./models/
# The router writes models/tiny.gguf at first use, and its state (keys made through
# /admin/keys, the generated key secret, the usage ledger) to /app/data (config/router.yaml:
# state.dataDir ../data; mount a volume there to keep it), as the unprivileged node user.
RUN mkdir -p /app/data && chown node:node /app/models /app/data
VOLUME /app/data

USER node
EXPOSE 8080
# With HOST=0.0.0.0 the router requires client keys: set ROUTER_API_KEY (see README).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]
