# One image for every node: SERVICES chooses what a container runs.
# Node 20 is what the test suite runs on (moleculer 0.15 declares >= 22 but works on 20).
FROM node:20-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
	&& rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json moleculer.config.ts ./
COPY bin ./bin
COPY lib ./lib
COPY mixins ./mixins
COPY services ./services
ENV NODE_ENV=production HOST=0.0.0.0
EXPOSE 3000
STOPSIGNAL SIGTERM
# node itself, no npm or tsx CLI in between: `docker stop` (SIGTERM) reaches the app directly.
CMD ["node", "--import", "tsx", "bin/start.ts"]
