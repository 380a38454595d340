# hayate: build with `docker build -t hayate .`, run with
#   docker run -d --restart=always --network host -v "$PWD:/data" hayate
# The working directory /data is a volume: config.json is read from it, and the cache
# files (torrent-cache.bin, user-cache.bin) and events/ are written to it. The entrypoint
# runs the tracker as the folder's owner (or as hayate when root owns it): the files it
# writes belong to whoever owns the folder (docs/operations.md, "Docker volume").

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
COPY deploy/docker/entrypoint.sh ./entrypoint.sh
RUN groupadd --system hayate \
 && useradd --system --gid hayate --home-dir /data --no-create-home --shell /usr/sbin/nologin hayate \
 && mkdir -p /data && chown hayate:hayate /data
# No USER: the entrypoint starts as root only to pick the data folder's owner, then runs
# the tracker as that user (setpriv); with `docker run --user` it runs as given.
WORKDIR /data
VOLUME /data
EXPOSE 34000
# SIGTERM: stop accepting, answer in-flight requests, flush the queues, write the cache files.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/entrypoint.sh"]
CMD ["node", "/app/dist/cmd/hayate.js"]
