# Starting and stopping the local stack's services. Sourced by start.sh and test.sh, which
# register stop_started_services on exit: we stop exactly what we started, nothing else.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STARTED_PIDS=()
STARTED_NAMES=()
STARTED_PG_DIRS=()

# Refuses to start a service on a port something else already holds, naming it.
require_free_port() {
  local port="$1" what="$2"
  if port_open "$port"; then
    log "port $port (for $what) is already in use; stop what holds it or set another port"
    return 1
  fi
}

remember() { STARTED_PIDS+=("$1"); STARTED_NAMES+=("$2"); }

# Waits until any started process exits and names it.
wait_for_any_exit() {
  local pid i
  wait -n -p pid "${STARTED_PIDS[@]}" || true
  for i in "${!STARTED_PIDS[@]}"; do
    [ "${STARTED_PIDS[$i]}" = "$pid" ] && log "${STARTED_NAMES[$i]} exited; stopping the stack"
  done
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Data directory for our own cluster. As root, PostgreSQL runs as the postgres user, which
# cannot enter a checkout under /root, so the cluster lives in that user's home instead.
pg_data_dir() {
  local name="$1"
  if [ "$(id -u)" = 0 ]; then echo "/var/lib/postgresql/durable-billing/$name"; else echo "$ROOT/.data/$name"; fi
}

# start_postgres NAME PORT DB... : ensures a cluster NAME runs on PORT with the given databases.
# Prints nothing; sets PG_URL_BASE (postgres://user@127.0.0.1:PORT).
start_postgres() {
  local name="$1" port="$2"; shift 2
  local bin; bin="$(pg_bin_dir)"
  [ -n "$bin" ] || { log "PostgreSQL is not installed (run scripts/install-tools.sh postgres)"; return 1; }
  local dir; dir="$(pg_data_dir "$name")"
  local user; if [ "$(id -u)" = 0 ]; then user=postgres; else user="$(id -un)"; fi
  if [ ! -s "$dir/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $dir"
    mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$(dirname "$dir")"
    as_postgres "$bin/initdb" -D "$dir" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! port_open "$port"; then
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
    STARTED_PG_DIRS+=("$dir")
  fi
  PG_URL_BASE="postgres://$user@127.0.0.1:$port"
  local db
  for db in "$@"; do
    if ! psql "$PG_URL_BASE/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
      psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE \"$db\"" >/dev/null
    fi
  done
}

recreate_database() {
  local url_base="$1" db="$2"
  psql "$url_base/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
  psql "$url_base/postgres" -qc "CREATE DATABASE \"$db\"" >/dev/null
}

database_answers() {
  [ -n "${1:-}" ] && psql "$1" -tAc 'SELECT 1' >/dev/null 2>&1
}

run_migrations() {
  DATABASE_URL="$1" "$ROOT/node_modules/.bin/node-pg-migrate" up \
    --migrations-dir "$ROOT/db/migrations" --migrations-table pgmigrations --no-check-order >/dev/null
}

# The search attributes the Web UI filters billing workflows by (also registered by tests).
TEMPORAL_SEARCH_ATTRIBUTES=(
  CustomerId=Keyword PlanId=Keyword SubscriptionStatus=Keyword BillingInterval=Keyword
  NextBillingAt=Datetime
)

# start_temporal PORT UI_PORT [DB_FILE]: the Temporal CLI dev server (SQLite; in memory without a file).
start_temporal() {
  local port="$1" ui_port="$2" db_file="${3:-}"
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui_port" --log-level warn
    --sqlite-pragma journal_mode=wal --namespace default)
  local sa; for sa in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$sa"); done
  if [ -n "$db_file" ]; then mkdir -p "$(dirname "$db_file")"; args+=(--db-filename "$db_file"); fi
  if [ -n "${TEMPORAL_UI_CODEC_ENDPOINT:-}" ]; then args+=(--ui-codec-endpoint "$TEMPORAL_UI_CODEC_ENDPOINT"); fi
  require_free_port "$port" "Temporal"
  require_free_port "$ui_port" "Temporal Web UI"
  "$(temporal_bin)" "${args[@]}" >"${TEMPORAL_LOG:-/dev/null}" 2>&1 &
  remember $! "Temporal dev server"
  wait_for_port "$port" "Temporal dev server" 120
  # The frontend accepts connections before the namespace is ready: wait until it answers.
  local i
  for ((i = 0; i < 120; i++)); do
    "$(temporal_bin)" operator namespace describe -n default --address "127.0.0.1:$port" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "Temporal dev server did not become ready"; return 1
}

start_stripe_mock() {
  local port="$1"
  require_free_port "$port" "stripe-mock"
  "$(stripe_mock_bin)" -http-port "$port" -https-port "$((port + 1))" >/dev/null 2>&1 &
  remember $! stripe-mock
  wait_for_port "$port" "stripe-mock" 60
}

# start_background NAME PORT CMD...: a project process (worker, API, simulator) we must stop later.
start_background() {
  local name="$1" port="$2"; shift 2
  if [ "$port" != "-" ]; then require_free_port "$port" "$name"; fi
  "$@" &
  remember $! "$name"
  if [ "$port" != "-" ]; then wait_for_port "$port" "$name" 120; fi
}

stop_started_services() {
  local pid dir
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    pid="${STARTED_PIDS[$i]}"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for dir in "${STARTED_PG_DIRS[@]}"; do
    as_postgres "$(pg_bin_dir)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
  done
  STARTED_PIDS=(); STARTED_NAMES=(); STARTED_PG_DIRS=()
}
