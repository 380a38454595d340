#!/usr/bin/env bash
# Finds a MariaDB server the project can use, or starts a private one, and prints
# its root URL (mysql://root:@host:port) on stdout. Progress goes to stderr.
#
#   1. $HAYATE_DB_URL, when set, is used as is.
#   2. A server answering root with an empty password on 127.0.0.1:3306 is used.
#   3. Otherwise a private mariadbd is started on 127.0.0.1:${HAYATE_PRIVATE_DB_PORT:-3407}
#      with its data in .data/mariadb (created by mariadb-install-db on first use).
#      (HAYATE_PRIVATE_DB=1 skips straight to this.) When mariadbd is missing and we are root, mariadb-server is installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "ensure-mariadb: $*" >&2; }

if [[ -n "${HAYATE_DB_URL:-}" ]]; then
  echo "$HAYATE_DB_URL"; exit 0
fi

can_connect() { # host port
  command -v mariadb >/dev/null 2>&1 || return 1
  mariadb --connect-timeout=2 -h "$1" -P "$2" -uroot -e 'SELECT 1' >/dev/null 2>&1
}

if [[ -z "${HAYATE_PRIVATE_DB:-}" ]] && can_connect 127.0.0.1 3306; then
  echo "mysql://root:@127.0.0.1:3306"; exit 0
fi

port="${HAYATE_PRIVATE_DB_PORT:-3407}"
if can_connect 127.0.0.1 "$port"; then
  echo "mysql://root:@127.0.0.1:$port"; exit 0
fi

if ! command -v mariadbd >/dev/null 2>&1 && [[ ! -x /usr/sbin/mariadbd ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "mariadbd not found: installing mariadb-server with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq mariadb-server mariadb-client >&2
  else
    say "no MariaDB server on 127.0.0.1:3306 and mariadbd is not installed."
    say "install it (sudo apt-get install mariadb-server) or set HAYATE_DB_URL=mysql://user:pass@host:port"
    exit 1
  fi
fi
# If the system server is installed but stopped, starting it is the least surprising fix.
if [[ -z "${HAYATE_PRIVATE_DB:-}" ]] && [[ "$(id -u)" == 0 ]] && [[ -d /var/lib/mysql/mysql ]] && ! can_connect 127.0.0.1 3306; then
  say "starting the system mariadbd"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2 2>&1 || true
  for _ in $(seq 1 100); do can_connect 127.0.0.1 3306 && { echo "mysql://root:@127.0.0.1:3306"; exit 0; }; sleep 0.1; done
  say "the system mariadbd did not come up; falling back to a private one"
fi

PATH="$PATH:/usr/sbin"
data="$PWD/.data/mariadb"
mkdir -p "$data"
user_flag=()
[[ "$(id -u)" == 0 ]] && user_flag=(--user=root)
if [[ ! -d "$data/db/mysql" ]]; then
  say "initialising a private MariaDB in $data"
  mariadb-install-db --no-defaults "${user_flag[@]}" --datadir="$data/db" \
    --auth-root-authentication-method=normal --skip-test-db >"$data/install.log" 2>&1 \
    || { cat "$data/install.log" >&2; exit 1; }
fi
say "starting a private mariadbd on 127.0.0.1:$port"
nohup mariadbd --no-defaults "${user_flag[@]}" --datadir="$data/db" --port="$port" --bind-address=127.0.0.1 \
  --socket="$data/mariadb.sock" --pid-file="$data/mariadb.pid" --log-error="$data/error.log" \
  --innodb-buffer-pool-size=256M --skip-name-resolve=0 >/dev/null 2>&1 &
for _ in $(seq 1 300); do
  if can_connect 127.0.0.1 "$port"; then echo "mysql://root:@127.0.0.1:$port"; exit 0; fi
  sleep 0.1
done
say "private mariadbd did not answer within 30 s; see $data/error.log"
tail -20 "$data/error.log" >&2 || true
exit 1
