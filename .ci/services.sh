#!/usr/bin/env bash
# Throwaway test services for CI: a PostgreSQL cluster, a Redis server and an S3-compatible server
# (moto), each on a free local port, with its data in one temp dir removed on stop.
#
# Sourced by .ci/run (which installs the packages first), or run directly to wrap one command:
#   .ci/services.sh psql "$MODELYARD_TEST_PG_URL" -c 'select 1'
# Exports MODELYARD_TEST_PG_URL, MODELYARD_TEST_REDIS_URL, MODELYARD_TEST_S3_URL and dummy AWS_*
# credentials. Ports can be pinned with CI_PG_PORT, CI_REDIS_PORT and CI_S3_PORT.

CI_START=${CI_START:-$SECONDS}

# Prints a section header with the seconds elapsed since the start.
ci_section() {
  printf '\n=== [%4ds] %s\n' "$((SECONDS - CI_START))" "$*"
}

ci_fail() {
  printf 'ci: %s\n' "$*" >&2
  return 1
}

# Runs a command as root: directly when we are root, else through sudo.
ci_as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    ci_fail "need root (or sudo) to run: $*"
  fi
}

# Directory of the newest installed PostgreSQL server binaries, or nothing.
ci_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n $dir && -x $dir/initdb ]]; then
    printf '%s\n' "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

# Installs with apt what is missing (redis-server; postgresql when no server binaries exist).
# Does nothing, not even `apt-get update`, when everything is there.
ci_install_system_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [[ -n $(ci_pg_bin) ]] || missing+=(postgresql)
  # The web UI's end-to-end tests drive Debian's Chromium through playwright-core.
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "already installed: redis-server, postgresql ($(ci_pg_bin)), chromium"
    return 0
  fi
  echo "installing: ${missing[*]}"
  # Keep the packages' own init scripts from starting system-wide services during install.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | ci_as_root tee "$policy" >/dev/null
    ci_as_root chmod +x "$policy"
    added_policy=1
  fi
  local status=0
  {
    ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
  } || status=$?
  if [[ $added_policy -eq 1 ]]; then ci_as_root rm -f "$policy"; fi
  [[ $status -eq 0 ]] || ci_fail "apt-get install ${missing[*]} failed (status $status)"
}

# Prints a TCP port nobody listens on (the kernel picks it).
ci_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Retries "$@" every 0.2 s until it succeeds or $1 seconds pass.
ci_wait_for() {
  local seconds=$1 name=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      ci_fail "$name did not answer within ${seconds}s"
      return 1
    fi
    sleep 0.2
  done
}

# Runs a PostgreSQL binary as the `postgres` user when we are root (initdb refuses root).
ci_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

ci_redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ $(redis-cli -h 127.0.0.1 -p "$1" ping) == PONG ]]
  else
    exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && read -r -t 2 reply <&3 &&
      exec 3>&- && [[ $reply == +PONG* ]]
  fi
}

ci_http_ok() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"
}

ci_start_postgres() {
  local bin
  bin=$(ci_pg_bin)
  [[ -n $bin ]] || ci_fail 'no PostgreSQL server binaries found (initdb)'
  local port=${CI_PG_PORT:-$(ci_free_port)}
  local data=$CI_WORK/pg/data sockets=$CI_WORK/pg/sockets
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/false postgres
    install -d -o postgres -g postgres -m 0700 "$CI_WORK/pg" "$data" "$sockets"
  else
    mkdir -p "$data" "$sockets"
  fi
  ci_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$CI_WORK/pg/initdb.log" 2>&1 || {
    cat "$CI_WORK/pg/initdb.log" >&2
    ci_fail 'initdb failed'
  }
  CI_PG_DATA=$data
  CI_PG_BIN=$bin
  ci_pg "$bin/pg_ctl" -D "$data" -l "$CI_WORK/pg/server.log" -w -t 60 start -o \
    "-p $port -k $sockets -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || {
    cat "$CI_WORK/pg/server.log" >&2
    ci_fail 'PostgreSQL did not start'
  }
  ci_wait_for 30 PostgreSQL "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres
  export MODELYARD_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "$("$bin/postgres" --version) on port $port"
}

ci_start_redis() {
  local port=${CI_REDIS_PORT:-$(ci_free_port)}
  mkdir -p "$CI_WORK/redis"
  # In the foreground of a background job (not --daemonize), so that we own and reap its pid.
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$CI_WORK/redis" --logfile "$CI_WORK/redis/redis.log" >/dev/null 2>&1 &
  CI_REDIS_PID=$!
  ci_wait_for 30 Redis ci_redis_ping "$port" || {
    cat "$CI_WORK/redis/redis.log" >&2
    return 1
  }
  export MODELYARD_TEST_REDIS_URL="redis://127.0.0.1:$port"
  echo "Redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') on port $port"
}

ci_start_s3() {
  local port=${CI_S3_PORT:-$(ci_free_port)}
  python3 -c 'import moto.server' 2>/dev/null ||
    ci_fail 'moto is not installed: pip install -r .ci/requirements.txt'
  python3 -m moto.server -H 127.0.0.1 -p "$port" >"$CI_WORK/moto.log" 2>&1 &
  CI_S3_PID=$!
  ci_wait_for 60 'S3 server (moto)' ci_http_ok "http://127.0.0.1:$port/" || {
    cat "$CI_WORK/moto.log" >&2
    return 1
  }
  export MODELYARD_TEST_S3_URL="http://127.0.0.1:$port"
  echo "S3-compatible server (moto $(python3 -c 'import moto; print(moto.__version__)')) on port $port"
}

# Starts the three services and exports their URLs. Call ci_stop_services when done (trap EXIT).
ci_start_services() {
  CI_WORK=$(mktemp -d "${TMPDIR:-/tmp}/modelyard-ci.XXXXXX")
  chmod 0755 "$CI_WORK"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  ci_start_postgres
  ci_start_redis
  ci_start_s3
}

# Stops whatever ci_start_services started and removes its temp dir. Never fails.
ci_stop_services() {
  if [[ -n ${CI_S3_PID:-} ]]; then
    kill "$CI_S3_PID" 2>/dev/null || true
    wait "$CI_S3_PID" 2>/dev/null || true
    CI_S3_PID=
  fi
  if [[ -n ${CI_REDIS_PID:-} ]]; then
    kill "$CI_REDIS_PID" 2>/dev/null || true
    wait "$CI_REDIS_PID" 2>/dev/null || true
    CI_REDIS_PID=
  fi
  if [[ -n ${CI_PG_DATA:-} ]]; then
    ci_pg "$CI_PG_BIN/pg_ctl" -D "$CI_PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
    CI_PG_DATA=
  fi
  if [[ -n ${CI_WORK:-} && -d $CI_WORK ]]; then
    rm -rf "$CI_WORK"
    CI_WORK=
  fi
}

# Run directly: start the services, run the given command with their variables, stop them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARG...]   (runs COMMAND with test services started)" >&2
    exit 2
  fi
  trap ci_stop_services EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ci_section 'starting test services'
  ci_start_services
  ci_section "running: $*"
  "$@"
fi
