# One image for every service of the distributed stack; SERVICES picks what a container runs.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY event-schemas/package.json event-schemas/
COPY platform/package.json platform/
COPY command-services/package.json command-services/
COPY saga-orchestrator/package.json saga-orchestrator/
COPY projections/package.json projections/
COPY read-api/package.json read-api/
COPY frontend/package.json frontend/
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
USER node
EXPOSE 3000
CMD ["npx", "tsx", "app/main.ts"]
