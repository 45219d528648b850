# llm-router: CPU-only image. The built-in tiny model is generated at first start.
FROM node:22-bookworm-slim

ENV NODE_ENV=production \
    ROUTER_CONFIG=/app/config/router.yaml \
    HOST=0.0.0.0 \
    PORT=8080

WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional keeps node-llama-cpp's CUDA/Vulkan builds (~600 MB) out; the CPU binary is a
# direct dependency. tsx runs the TypeScript sources, so it is a runtime dependency. `npm install`
# (locked versions) rather than `npm ci`: the lockfile is made where other platforms' optional
# builds cannot be fetched, and `npm ci` rejects it for lacking them.
RUN npm install --omit=optional --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --chown=node:node . .
RUN mkdir -p /app/models && chown -R node:node /app/models

USER node
EXPOSE 8080
# With HOST=0.0.0.0 the router requires client keys: set ROUTER_API_KEY (see README).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]
