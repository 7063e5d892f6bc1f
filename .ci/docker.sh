#!/usr/bin/env bash
# Helpers for .ci/run: a private Docker engine and a PostgreSQL image built
# locally (no container registry is reachable here). Source it, then call
# docker_start, docker_image and, at the end, docker_stop.
#
# Both the engine's data root and the built image are cached under
# $IDEMCHECK_CI_CACHE (default /var/cache/idemcheck-ci), so a second CI run on
# the same machine skips the ~1 minute image build.

IDEMCHECK_CI_CACHE=${IDEMCHECK_CI_CACHE:-/var/cache/idemcheck-ci}
CI_IMAGE=${CI_IMAGE:-idemcheck-ci/postgres:15-bookworm}
DOCKER_DIR=$IDEMCHECK_CI_CACHE/docker

docker_start() {
  mkdir -p "$DOCKER_DIR/data" "$DOCKER_DIR/exec"
  export DOCKER_HOST=unix://$DOCKER_DIR/docker.sock
  if docker info >/dev/null 2>&1; then return 0; fi
  rm -f "$DOCKER_DIR/docker.sock" "$DOCKER_DIR/docker.pid"
  dockerd --host "$DOCKER_HOST" --data-root "$DOCKER_DIR/data" \
    --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/docker.pid" \
    >"$DOCKER_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "dockerd did not start; its log:" >&2
  tail -30 "$DOCKER_DIR/dockerd.log" >&2
  return 1
}

docker_stop() {
  if [ -f "$DOCKER_DIR/docker.pid" ]; then
    kill "$(cat "$DOCKER_DIR/docker.pid")" 2>/dev/null || true
    for _ in $(seq 1 20); do
      [ -f "$DOCKER_DIR/docker.pid" ] || break
      sleep 0.5
    done
  fi
}

# docker_image builds $CI_IMAGE from Debian's postgresql-15 with debootstrap,
# with an entrypoint that behaves like the official image's as far as
# testcontainers-go's postgres module needs: POSTGRES_USER/PASSWORD/DB, and
# "ready to accept connections" logged twice (init pass, then the real start).
docker_image() {
  if docker image inspect "$CI_IMAGE" >/dev/null 2>&1; then return 0; fi
  local mirror rootfs
  mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v security | head -1 | awk '{print $NF}' || true) # no match must not end CI (set -e, pipefail)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d /var/tmp/idemcheck-rootfs.XXXXXX)
  debootstrap --variant=minbase --include=postgresql-15 bookworm "$rootfs" "$mirror" >"$IDEMCHECK_CI_CACHE/debootstrap.log" 2>&1 || {
    echo "debootstrap failed; its log:" >&2; tail -30 "$IDEMCHECK_CI_CACHE/debootstrap.log" >&2
    rm -rf "$rootfs"; return 1; }
  rm -rf "$rootfs/var/lib/postgresql/15" "$rootfs/var/cache/apt/archives/"*.deb
  cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
PGDATA=${PGDATA:-/var/lib/postgresql/data}
PGBIN=/usr/lib/postgresql/15/bin
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ "$1" = postgres ]; then shift; fi
mkdir -p "$PGDATA" /var/run/postgresql
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp); printf '%s\n' "${POSTGRES_PASSWORD:-postgres}" >"$pwfile"; chown postgres "$pwfile"
  as_pg "$PGBIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='' &
  pid=$!
  until as_pg "$PGBIN/pg_isready" -q -h /var/run/postgresql; do sleep 0.1; done
  if [ "$POSTGRES_DB" != postgres ]; then
    as_pg env PGPASSWORD="$POSTGRES_PASSWORD" psql -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres -qc "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  kill -INT "$pid"; wait "$pid" || true
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
SH
  chmod +x "$rootfs/usr/local/bin/docker-entrypoint.sh"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change 'EXPOSE 5432' \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$CI_IMAGE" >/dev/null
  local rc=$?
  rm -rf "$rootfs"
  return $rc
}
