# One image for every node: SERVICES chooses what a container runs.
# Two stages: the build stage has the compilers (sqlite3 is a native addon) and the TypeScript
# toolchain; the runtime stage has neither, only production node_modules and the compiled
# JavaScript, and runs as the unprivileged `node` user. Node 24 is an LTS line.

FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
	&& rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# sqlite3 is compiled here, against this image's glibc and Node ABI, rather than downloaded
RUN npm_config_build_from_source=true npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json moleculer.config.ts ./
COPY bin ./bin
COPY lib ./lib
COPY mixins ./mixins
COPY services ./services
# the gateway's static files (the operations page), copied into dist/web by the build
COPY web ./web
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
WORKDIR /app
# npm, npx, corepack and yarn are not needed to run the app: one less thing to patch
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
		/usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
	&& mkdir data && chown node:node data
# owned by root: the app cannot change its own code; ./data is the node user's (SQLite without compose)
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production HOST=0.0.0.0 HEARTBEAT_FILE=/tmp/heartbeat
USER node
EXPOSE 3000
STOPSIGNAL SIGTERM
# an api node answers GET /api/health; a node without HTTP keeps its heartbeat file fresh
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/bin/healthcheck.js"]
# node itself, no npm or tsx in between: `docker stop` (SIGTERM) reaches the app directly
CMD ["node", "--max-semi-space-size=4", "dist/bin/start.js"]
