#!/usr/bin/env bash
# Runs hayate locally on a MariaDB loaded with the sample site (fixtures/site.ts) and
# prints an announce URL to try. Works from a fresh Debian machine that has Node 20:
#   - npm ci when node_modules is missing or older than package-lock.json
#   - npm run build
#   - scripts/ensure-mariadb.sh: MariaDB on 127.0.0.1:3306, or a private one in .data/mariadb
#     (installed with apt-get when missing and we are root); HAYATE_DB_URL overrides it
#   - (re)creates the database hayate_dev with database/schema.sql and the fixtures
#   - writes .data/dev/config.json and runs the tracker with .data/dev as its working
#     directory (cache files, the journal and events/ land there; all but events/ are
#     removed first, as they belong to the database just dropped)
# Environment: HAYATE_ADDR (default 127.0.0.1:34000), HAYATE_DB_URL, HAYATE_DEV_DB (default hayate_dev).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
say() { echo "dev: $*" >&2; }

if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
fi
say "building (npm run build)"
npm run --silent build >&2
if [[ ! -f dist/cmd/hayate.js ]]; then
  say "dist/cmd/hayate.js is missing after the build: the tracker entry point (cmd/hayate.ts) is not there yet"
  exit 1
fi

# A dev tracker still running here would have its database dropped and its files removed under it.
lock="$repo/.data/dev/hayate.lock"
if [[ -f "$lock" ]]; then
  read -r holder holder_host _ < "$lock" || true
  if [[ "${holder_host:-}" == "$(hostname)" && -n "${holder:-}" ]] && kill -0 "$holder" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$holder/cmdline" 2>/dev/null | grep -q 'hayate'; then
    say "a dev tracker is already running (pid $holder, $lock): stop it first (Ctrl-C where it runs)"
    exit 1
  fi
fi

root_url="$(bash scripts/ensure-mariadb.sh)"
db_name="${HAYATE_DEV_DB:-hayate_dev}"
db_url="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; u.search = ""; console.log(u.href)' "$root_url" "$db_name")"
say "loading the schema and fixtures into $db_name"
node dist/fixtures/load.js --recreate "$db_url" 2>&1 | sed 's/^/dev: /' >&2

addr="${HAYATE_ADDR:-127.0.0.1:34000}"
run="$repo/.data/dev"
mkdir -p "$run"
# The last run's state was the dropped database's: its journal replayed into the new one would
# credit that run's bytes again, and its cache files hold that run's peers.
rm -rf "$run/journal" "$run/journal-checkpoint.json" "$run"/*-cache.bin "$run"/*-cache.bin.tmp
node -e '
const [file, dsn, addr] = process.argv.slice(1);
const config = { database: { dsn }, http: { addr }, enable_metrics: true, record_announces: true };
require("node:fs").writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
' "$run/config.json" "$db_url" "$addr"
say "wrote $run/config.json"

# An announce a Transmission 3.00 client on port 51413 could send for a live torrent.
node --input-type=module -e '
const { users, torrents, infoHashBytes, percentEncodeBytes } = await import(process.argv[1]);
const addr = process.argv[2];
const idx = addr.lastIndexOf(":");
let host = addr.slice(0, idx);
if (host === "" || host === "0.0.0.0" || host === "[::]") host = "127.0.0.1";
const base = `http://${host}:${addr.slice(idx + 1)}/${users.normal.passkey}`;
const infoHash = percentEncodeBytes(infoHashBytes(torrents.live));
const peerId = encodeURIComponent("-TR3000-hayatedev001");
console.log(`
hayate dev tracker: ${base.slice(0, base.lastIndexOf("/"))}
  user ${users.normal.id} (${users.normal.role}), torrent ${torrents.live.id} (${torrents.live.role})
try:
  curl -s "${base}/announce?info_hash=${infoHash}&peer_id=${peerId}&port=51413&uploaded=0&downloaded=0&left=1048576&compact=1&event=started"
  curl -s "${base}/scrape?info_hash=${infoHash}"
  curl -s "http://${host}:${addr.slice(idx + 1)}/alive"
  curl -s "http://${host}:${addr.slice(idx + 1)}/metrics"
(other passkeys and info hashes: README.md, "Fixtures")
`);
' "$repo/dist/fixtures/site.js" "$addr" >&2

cd "$run"
exec node "$repo/dist/cmd/hayate.js" -c "$run/config.json"
