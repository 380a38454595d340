#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine: replays its two stages in temporary
# folders on this machine (COPY and npm RUN steps as written in the Dockerfile, /app
# mapped to the stage folder), then runs the runtime stage's ENTRYPOINT and CMD the way
# the image would: started as root, NODE_ENV=production, in a data folder owned by
# another user (uid 4242, as a host folder mounted with -v "$PWD:/data" would be).
#
# What it proves: the build stage compiles with only the files it COPYs; the runtime
# stage has no dev dependencies and yet starts, loads fixtures with its own
# dist/fixtures/load.js + database/schema.sql, answers an announce, and on SIGTERM
# exits 0 after writing its cache files into the data folder, owned by the folder's
# owner (the entrypoint ran the tracker as that user).
# What it cannot prove: the base image, `docker build` itself, the useradd/chown RUN
# step (skipped: it would change this machine; the entrypoint is told to use `nobody`
# for the image's user), VOLUME/EXPOSE/STOPSIGNAL.
#
# Needs MariaDB (HAYATE_DB_URL, default mysql://root:@127.0.0.1:3306) and network or an
# npm cache for `npm ci`. Usage: bash scripts/check-image-stages.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
say() { echo "image-check: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

work="$(mktemp -d -t hayate-image-XXXXXX)"
tracker_pid=""
cleanup() {
  if [[ -n "$tracker_pid" ]] && kill -0 "$tracker_pid" 2>/dev/null; then kill -KILL "$tracker_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
declare -A stage_dir
stage=""
env_vars=()
cmd_json=""
entry_json="[]"

# --- replay the Dockerfile ---------------------------------------------------------
# Join continued lines, drop comments.
mapfile -t instructions < <(sed -e 's/[[:space:]]*#.*$//' "$repo/Dockerfile" | awk '
  /\\$/ { sub(/\\$/, ""); buf = buf $0 " "; next }
  { print buf $0; buf = "" }' | grep -v '^[[:space:]]*$')

for line in "${instructions[@]}"; do
  read -r op rest <<<"$line"
  case "$op" in
    FROM)
      stage="$(awk '{ if (toupper($2) == "AS") print $3; else print "runtime" }' <<<"$rest")"
      stage_dir[$stage]="$work/$stage"
      mkdir -p "${stage_dir[$stage]}"
      say "stage $stage (FROM ${rest%% *})"
      ;;
    WORKDIR)
      [[ "$rest" == /app || "$rest" == /data ]] || fail "unexpected WORKDIR $rest"
      ;;
    COPY)
      read -ra args <<<"$rest"
      from=""
      if [[ "${args[0]}" == --from=* ]]; then from="${args[0]#--from=}"; args=("${args[@]:1}"); fi
      dest="${args[-1]}"
      sources=("${args[@]:0:${#args[@]}-1}")
      for src in "${sources[@]}"; do
        if [[ -n "$from" ]]; then path="${stage_dir[$from]}/${src#/app/}"; else path="$repo/$src"; fi
        [[ -e "$path" ]] || fail "COPY source missing: $src"
        if [[ "$dest" == */ ]]; then cp -r "$path" "${stage_dir[$stage]}/${dest#./}"
        else cp -r "$path" "${stage_dir[$stage]}/${dest#./}"; fi
      done
      ;;
    RUN)
      if [[ "$rest" == *useradd* || "$rest" == *groupadd* ]]; then
        say "skipped (would change this machine): RUN ${rest:0:60}…"
        continue
      fi
      say "RUN $rest"
      # A private npm cache, as in a fresh image (and so `npm cache clean` leaves this machine's alone).
      (cd "${stage_dir[$stage]}" && npm_config_cache="$work/npm-cache" bash -c "$rest") >"$work/$stage.log" 2>&1 || { cat "$work/$stage.log" >&2; fail "RUN $rest"; }
      ;;
    ENV) env_vars+=("$rest") ;;
    CMD) cmd_json="$rest" ;;
    ENTRYPOINT) entry_json="$rest" ;;
    USER | VOLUME | EXPOSE | STOPSIGNAL) ;;
    *) fail "unhandled Dockerfile instruction: $op" ;;
  esac
done
runtime="${stage_dir[runtime]}"

# --- what the runtime stage holds ---------------------------------------------------
for dev in typescript vitest fast-check; do
  [[ ! -e "$runtime/node_modules/$dev" ]] || fail "dev dependency $dev is in the runtime stage"
done
[[ ! -e "$runtime/src" && ! -e "$runtime/test" ]] || fail "sources in the runtime stage"
[[ -f "$runtime/dist/cmd/hayate.js" ]] || fail "no dist/cmd/hayate.js in the runtime stage"
say "runtime stage: $(du -sh "$runtime" | cut -f1), node_modules without dev dependencies"

# --- run it as the image would -------------------------------------------------------
db_root="${HAYATE_DB_URL:-mysql://root:@127.0.0.1:3306}"
db_url="$db_root/hayate_image_check"
(cd "$runtime" && node dist/fixtures/load.js --recreate "$db_url") >/dev/null || fail "fixtures CLI of the runtime stage"

data="$work/data"
mkdir -p "$data"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
printf '{"database":{"dsn":"%s"},"http":{"addr":"127.0.0.1:%s"}}\n' "$db_url" "$port" >"$data/config.json"

# ENTRYPOINT ["/app/entrypoint.sh"] and CMD ["node", "/app/dist/cmd/hayate.js"], /app mapped to the runtime folder.
mapfile -t cmd < <(node -e 'for (const a of [...JSON.parse(process.argv[1]), ...JSON.parse(process.argv[2])]) console.log(a.replace(/^\/app\//, process.argv[3] + "/"))' "$entry_json" "$cmd_json" "$runtime")
host_uid=""
if [[ "$(id -u)" == 0 ]]; then
  # A host folder owned by someone else (uid 4242); the entrypoint starts as root, as in the image.
  chmod 755 "$work" && chmod -R a+rX "$runtime"
  host_uid=4242
  chown -R "$host_uid:$host_uid" "$data"
fi
(cd "$data" && exec env -i PATH="$PATH" HAYATE_IMAGE_USER=nobody "${env_vars[@]}" "${cmd[@]}") >"$work/tracker.log" 2>&1 &
tracker_pid=$!
for _ in $(seq 1 200); do
  grep -q '"msg":"listening"' "$work/tracker.log" && break
  kill -0 "$tracker_pid" 2>/dev/null || { cat "$work/tracker.log" >&2; fail "the tracker exited at start"; }
  sleep 0.1
done
grep -q '"msg":"listening"' "$work/tracker.log" || fail "the tracker did not listen"

passkey="$(node -e 'import(process.argv[1]).then((m) => console.log(m.users.normal.passkey))' "$runtime/dist/fixtures/site.js")"
hash="$(node -e 'import(process.argv[1]).then((m) => console.log(m.torrents.live.infoHashHex.replace(/../g, "%$&")))' "$runtime/dist/fixtures/site.js")"
answer="$(curl -sS "http://127.0.0.1:$port/$passkey/announce?info_hash=$hash&peer_id=-TR3000-000000000001&port=51413&uploaded=0&downloaded=0&left=10&ip=8.8.8.8")"
[[ "$answer" == d8:complete* ]] || fail "announce answered: $answer"
say "announce answered: ${answer:0:60}…"

kill -TERM "$tracker_pid"
status=0
wait "$tracker_pid" || status=$?
tracker_pid=""
[[ "$status" == 0 ]] || { cat "$work/tracker.log" >&2; fail "exit status $status after SIGTERM"; }
grep -q '"msg":"shutdown complete"' "$work/tracker.log" || fail "no 'shutdown complete' line"
[[ -s "$data/torrent-cache.bin" && -s "$data/user-cache.bin" ]] || fail "cache files not written to the data folder"
owner="$(stat -c %u "$data/torrent-cache.bin")"
if [[ -n "$host_uid" && "$owner" != "$host_uid" ]]; then fail "cache files owned by uid $owner, not by the folder's owner $host_uid"; fi
say "SIGTERM: exit 0, cache files written by uid $owner (the data folder's owner)"
(cd "$runtime" && node -e 'import("mysql2/promise").then(async (m) => { const c = await m.createConnection(process.argv[1]); await c.query("DROP DATABASE hayate_image_check"); await c.end(); })' "$db_root")
say "OK"
