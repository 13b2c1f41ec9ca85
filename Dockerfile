# One image for every service of the distributed stack; SERVICES picks what a container runs.
# The runtime stage holds node, the prebuilt dist/ and frontend/dist, and production
# dependencies only: no sources, no TypeScript loader, no compilers, no dev dependencies.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary fits the platform.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY event-schemas/package.json event-schemas/
COPY platform/package.json platform/
COPY command-services/package.json command-services/
COPY saga-orchestrator/package.json saga-orchestrator/
COPY projections/package.json projections/
COPY read-api/package.json read-api/
COPY frontend/package.json frontend/
# --ignore-scripts: the root's prepare builds from sources not copied yet (the build stage
# runs it); the two dependencies with install steps run theirs by name.
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild better-sqlite3 esbuild

FROM deps AS build
COPY . .
# Bundle the entry points and the frontend, then drop dev dependencies and the workspace
# links (the bundles inline the workspaces; only their npm dependencies stay external).
RUN node app/build.mjs --force \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@saga

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
# package.json for "type": "module", which the .js launchers need (each runs its .cjs bundle).
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/frontend/dist ./frontend/dist
# Embedded mode (no server URLs) writes DATA_DIR=./data; the node user must own it.
RUN mkdir -p data && chown node:node data
USER node
EXPOSE 3000
# node itself, not npm or npx: SIGTERM from `docker stop` reaches the app, which stops within
# its 10 s bound. Compose adds tini as PID 1 (`init: true`) to reap and forward signals.
CMD ["node", "dist/main.js"]
