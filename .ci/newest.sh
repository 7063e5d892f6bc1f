#!/usr/bin/env bash
# Helpers for .ci/run: the newest PostgreSQL Debian packages (17, from
# trixie), in a chroot, since bookworm, which CI and the Docker image run,
# has 15 only. Source it, then call newest_start (it prints the server's
# URL on stdout) and, at the end, newest_stop.
#
# The chroot (debootstrap, about 40 s) is cached under $IDEMCHECK_CI_CACHE
# (default /var/cache/idemcheck-ci), like the Docker image; every run gets
# a new data directory.

IDEMCHECK_CI_CACHE=${IDEMCHECK_CI_CACHE:-/var/cache/idemcheck-ci}
NEWEST_PG=17
NEWEST_ROOT=$IDEMCHECK_CI_CACHE/postgresql-$NEWEST_PG-trixie
NEWEST_PORT=55417

newest_start() {
  if [ ! -x "$NEWEST_ROOT/usr/lib/postgresql/$NEWEST_PG/bin/postgres" ]; then
    local mirror tmp
    mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -v security | head -1 | awk '{print $NF}' || true) # no match must not end CI (set -e, pipefail)
    mirror=${mirror:-http://deb.debian.org/debian}
    tmp=$NEWEST_ROOT.tmp
    rm -rf "$tmp"
    mkdir -p "$IDEMCHECK_CI_CACHE"
    debootstrap --variant=minbase --include=postgresql-$NEWEST_PG trixie "$tmp" "$mirror" >"$IDEMCHECK_CI_CACHE/debootstrap-newest.log" 2>&1 || {
      echo "debootstrap of PostgreSQL $NEWEST_PG failed; its log:" >&2; tail -30 "$IDEMCHECK_CI_CACHE/debootstrap-newest.log" >&2
      rm -rf "$tmp"; return 1; }
    rm -rf "$tmp/var/lib/postgresql/$NEWEST_PG" "$tmp/var/cache/apt/archives/"*.deb
    mv "$tmp" "$NEWEST_ROOT"
  fi
  mountpoint -q "$NEWEST_ROOT/dev" || mount --bind /dev "$NEWEST_ROOT/dev"
  mountpoint -q "$NEWEST_ROOT/proc" || mount -t proc proc "$NEWEST_ROOT/proc"
  chroot "$NEWEST_ROOT" sh -ec "
    rm -rf /pgdata; mkdir -p /pgdata /run/postgresql; chown postgres /pgdata /run/postgresql
    su postgres -c '/usr/lib/postgresql/$NEWEST_PG/bin/initdb -D /pgdata -U postgres -A trust -E UTF8 --locale=C --no-sync' >/dev/null
    su postgres -c \"/usr/lib/postgresql/$NEWEST_PG/bin/pg_ctl -D /pgdata -l /pgdata/log -w -o '-p $NEWEST_PORT -k /run/postgresql -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start\" >/dev/null
    su postgres -c '/usr/lib/postgresql/$NEWEST_PG/bin/psql -h /run/postgresql -p $NEWEST_PORT -qc \"CREATE DATABASE ci\"'
  " >&2
  echo "postgres://postgres@127.0.0.1:$NEWEST_PORT/ci"
}

newest_stop() {
  [ -d "$NEWEST_ROOT" ] || return 0
  if [ -f "$NEWEST_ROOT/pgdata/postmaster.pid" ]; then
    chroot "$NEWEST_ROOT" su postgres -c "/usr/lib/postgresql/$NEWEST_PG/bin/pg_ctl -D /pgdata -m immediate stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$NEWEST_ROOT/pgdata"
  mountpoint -q "$NEWEST_ROOT/proc" && umount "$NEWEST_ROOT/proc"
  mountpoint -q "$NEWEST_ROOT/dev" && umount "$NEWEST_ROOT/dev"
  return 0
}
