#!/usr/bin/env bash
# Installs what the end-to-end tests drive, when it is missing: real BitTorrent clients, nginx,
# systemd-analyze, php-cli, jq (called by scripts/test.sh; MariaDB is scripts/ensure-mariadb.sh's).
# As root it runs apt-get; otherwise through `sudo -n` when that needs no password; otherwise it
# names the packages and the command to install them, and the tests that need them fail saying so.
set -euo pipefail
say() { echo "test: $*" >&2; }

missing=()
# Real BitTorrent clients for test/e2e-clients.test.ts (aria2c; transmission-create,
# transmission-remote; transmission-daemon) and test/e2e-client-matrix.test.ts.
bt_packages=()
command -v aria2c >/dev/null || bt_packages+=(aria2)
{ command -v transmission-create && command -v transmission-remote; } >/dev/null || bt_packages+=(transmission-cli)
command -v transmission-daemon >/dev/null || bt_packages+=(transmission-daemon)
# test/e2e-client-matrix.test.ts: the clients private-tracker users run most.
command -v qbittorrent-nox >/dev/null || bt_packages+=(qbittorrent-nox)
{ command -v deluged && command -v deluge-console; } >/dev/null || bt_packages+=(deluged deluge-console)
command -v rtorrent >/dev/null || bt_packages+=(rtorrent)
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || bt_packages+=(python3-libtorrent)
missing+=("${bt_packages[@]}")

# nginx for test/nginx.test.ts (the README's example config in front of a tracker), and
# openssl for that test's self-signed certificate.
nginx_packages=()
{ command -v nginx || [[ -x /usr/sbin/nginx ]]; } >/dev/null || nginx_packages+=(nginx-light)
command -v openssl >/dev/null || nginx_packages+=(openssl)
missing+=("${nginx_packages[@]}")

# test/systemd-unit.test.ts: systemd-analyze (the unit's syscall groups, verify, security),
# gcc and libseccomp to build the helper that applies the unit's SystemCallFilter.
unit_packages=()
command -v systemd-analyze >/dev/null || unit_packages+=(systemd)
command -v gcc >/dev/null || unit_packages+=(gcc libc6-dev)
[[ -e /usr/include/seccomp.h ]] || unit_packages+=(libseccomp-dev)
# test/startup.test.ts and test/docker-entrypoint.test.ts drop privileges with setpriv.
command -v setpriv >/dev/null || unit_packages+=(util-linux)
missing+=("${unit_packages[@]}")

# jq for test/readme-jq.test.ts (the README's log-filtering examples, run as written).
command -v jq >/dev/null || missing+=(jq)

# php-cli for test/update-php.test.ts (a site's tracker calls made the way Gazelle's PHP makes them).
command -v php >/dev/null || missing+=(php-cli)

(( ${#missing[@]} == 0 )) && exit 0
if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  say "missing for the end-to-end tests: ${missing[*]}"
  say "install them with: sudo apt-get install --no-install-recommends ${missing[*]}   (the tests that need them fail until then)"
  exit 0
fi
say "installing what the end-to-end tests need: ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
