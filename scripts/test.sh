#!/usr/bin/env bash
# npm test: installs what is missing, starts the services the tests need (a throwaway
# PostgreSQL database, stripe-mock, a Temporal dev server), type-checks, runs every jest suite,
# stops what it started. Extra arguments go to jest (e.g. npm test -- test/unit).
source "$(dirname "$0")/services.sh"
cd "$ROOT"

ensure_node_modules
bash "$ROOT/scripts/install-tools.sh" all

trap stop_started_services EXIT
trap 'exit 130' INT TERM

TEST_PG_PORT="${TEST_PG_PORT:-54330}"
TEST_TEMPORAL_PORT="${TEST_TEMPORAL_PORT:-7333}"
TEST_STRIPE_MOCK_PORT="${TEST_STRIPE_MOCK_PORT:-12121}"

if database_answers "${TEST_DATABASE_URL:-}"; then
  export DATABASE_URL="$TEST_DATABASE_URL"
else
  start_postgres "test-$TEST_PG_PORT" "$TEST_PG_PORT"
  recreate_database "$PG_URL_BASE" durable_billing_test
  export DATABASE_URL="$PG_URL_BASE/durable_billing_test"
fi
run_migrations "$DATABASE_URL"

start_stripe_mock "$TEST_STRIPE_MOCK_PORT"
export STRIPE_MOCK_URL="http://127.0.0.1:$TEST_STRIPE_MOCK_PORT"

start_temporal "$TEST_TEMPORAL_PORT" "$((TEST_TEMPORAL_PORT + 1000))"
export TEMPORAL_ADDRESS="127.0.0.1:$TEST_TEMPORAL_PORT"
export TEMPORAL_CLI="$(temporal_bin)"
export TEMPORAL_TEST_SERVER="$TEST_SERVER_DIR/test-server"

if [ "${SKIP_TYPECHECK:-0}" != 1 ]; then
  log "type-checking"
  npx tsc --noEmit -p tsconfig.json
fi

export JEST_SUMMARY_FILE="$(mktemp)"
status=0
npx jest --maxWorkers=2 "$@" || status=$?
cat "$JEST_SUMMARY_FILE" 2>/dev/null || true
rm -f "$JEST_SUMMARY_FILE"
exit "$status"
