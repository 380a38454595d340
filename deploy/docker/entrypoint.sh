#!/bin/sh
# hayate's image entrypoint: runs the command (the tracker) as the owner of the data folder,
# so `docker run -v "$PWD:/data" hayate` can write its cache files into a host folder
# whoever owns it. See docs/operations.md ("Docker volume").
#
# - Started with --user: runs the command as that user, unchanged (the folder must be
#   writable by it; the tracker's start-up check says so in one line if not).
# - The folder is owned by a user other than root (a host user's folder): runs as that
#   user and group, so the files it writes belong to the folder's owner.
# - The folder is owned by root (a folder made by root, or Docker's own): runs as the
#   image's user (hayate), after making it the owner of the folder and of the files the
#   tracker writes there (cache files, the crash journal and its checkpoint, events/, lock);
#   config.json is left as it is and must be readable.
set -eu
dir=$(pwd)
image_user=${HAYATE_IMAGE_USER:-hayate}

if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi

uid=$(stat -c %u "$dir")
gid=$(stat -c %g "$dir")
if [ "$uid" = 0 ]; then
  uid=$(id -u "$image_user")
  gid=$(id -g "$image_user")
  chown "$uid:$gid" "$dir"
  for f in torrent-cache.bin user-cache.bin peers6-cache.bin torrent-cache.bin.tmp user-cache.bin.tmp \
    peers6-cache.bin.tmp journal journal-checkpoint.json journal-checkpoint.json.tmp hayate.lock events; do
    if [ -e "$dir/$f" ]; then chown -R "$uid:$gid" "$dir/$f"; fi
  done
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
