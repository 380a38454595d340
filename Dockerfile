# hayate: build with `docker build -t hayate .`, run with
#   docker run -d --restart=always --network host -v "$PWD:/data" hayate
# The working directory /data is a volume: config.json is read from it, and the cache
# files (torrent-cache.bin, user-cache.bin) and events/ are written to it.

# --- build: all dependencies, TypeScript compiled to dist/ ---------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json config.schema.json ./
COPY cmd ./cmd
COPY src ./src
COPY fixtures ./fixtures
RUN npm run build

# --- runtime: production dependencies and the compiled code only ---------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# config.schema.json is read at start (dist/src/config -> /app/config.schema.json);
# database/schema.sql is what dist/fixtures/load.js loads into an empty database.
COPY config.schema.json ./
COPY database ./database
RUN groupadd --system hayate \
 && useradd --system --gid hayate --home-dir /data --no-create-home --shell /usr/sbin/nologin hayate \
 && mkdir -p /data && chown hayate:hayate /data
USER hayate
WORKDIR /data
VOLUME /data
EXPOSE 34000
# SIGTERM: stop accepting, answer in-flight requests, flush the queues, write the cache files.
STOPSIGNAL SIGTERM
CMD ["node", "/app/dist/cmd/hayate.js"]
