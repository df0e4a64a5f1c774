#!/usr/bin/env bash
# npm start: installs what is missing, brings up the whole local stack and keeps it running
# until Ctrl-C, which stops everything this script started (and nothing else).
source "$(dirname "$0")/services.sh"
cd "$ROOT"

ensure_node_modules
bash "$ROOT/scripts/install-tools.sh" all

trap stop_started_services EXIT
trap 'echo; log "stopping"; exit 0' INT TERM

DATA_DIR="${DATA_DIR:-$ROOT/.data}"
mkdir -p "$DATA_DIR/logs"
APP_PG_PORT="${APP_PG_PORT:-54320}"
export PORT="${PORT:-3000}"
STRIPE_MOCK_PORT="${STRIPE_MOCK_PORT:-12111}"
STRIPE_SIMULATOR_PORT="${STRIPE_SIMULATOR_PORT:-12113}"
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"

if database_answers "${DATABASE_URL:-}"; then
  log "using DATABASE_URL"
else
  start_postgres app "$APP_PG_PORT" durable_billing
  export DATABASE_URL="$PG_URL_BASE/durable_billing"
fi
run_migrations "$DATABASE_URL"

if [ -z "${STRIPE_API_BASE:-}" ]; then
  start_stripe_mock "$STRIPE_MOCK_PORT"
  # The local stand-in for Stripe test mode: each request is validated by stripe-mock, then
  # answered with test-mode outcomes (pm_card_visa succeeds, pm_card_chargeDeclined declines...).
  start_background "Stripe simulator" "$STRIPE_SIMULATOR_PORT" \
    node -r @swc-node/register test/peers/stripe-simulator.ts --port "$STRIPE_SIMULATOR_PORT" \
    --stripe-mock "http://127.0.0.1:$STRIPE_MOCK_PORT" >"$DATA_DIR/logs/stripe-simulator.log" 2>&1
  export STRIPE_API_BASE="http://127.0.0.1:$STRIPE_SIMULATOR_PORT"
fi

if [ -z "${PAYPAL_CLIENT_ID:-}" ]; then
  # The local stand-in for PayPal's REST API (OAuth, Orders v2, refunds, webhook verification).
  PAYPAL_SANDBOX_PORT="${PAYPAL_SANDBOX_PORT:-12130}"
  start_background "PayPal sandbox" "$PAYPAL_SANDBOX_PORT" \
    node -r @swc-node/register test/peers/paypal-sandbox.ts --port "$PAYPAL_SANDBOX_PORT" >"$DATA_DIR/logs/paypal-sandbox.log" 2>&1
  export PAYPAL_API_BASE="http://127.0.0.1:$PAYPAL_SANDBOX_PORT"
  export PAYPAL_CLIENT_ID=sandbox-client-id PAYPAL_CLIENT_SECRET=sandbox-client-secret PAYPAL_WEBHOOK_ID=WH-SANDBOX-0000000000000000
fi
export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_local_development}"

if [ -z "${SMTP_HOST:-}" ]; then
  # Catches the notices the worker emails; see them at GET /messages.
  SMTP_SINK_PORT="${SMTP_SINK_PORT:-1025}"
  SMTP_SINK_HTTP_PORT="${SMTP_SINK_HTTP_PORT:-1080}"
  require_free_port "$SMTP_SINK_HTTP_PORT" "SMTP sink (HTTP)"
  start_background "SMTP sink" "$SMTP_SINK_PORT" \
    node -r @swc-node/register test/peers/smtp-sink.ts --port "$SMTP_SINK_PORT" --http-port "$SMTP_SINK_HTTP_PORT" >"$DATA_DIR/logs/smtp-sink.log" 2>&1
  export SMTP_HOST=127.0.0.1 SMTP_PORT="$SMTP_SINK_PORT"
  SMTP_MESSAGES_URL="http://127.0.0.1:$SMTP_SINK_HTTP_PORT/messages"
fi

if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  TEMPORAL_LOG="$DATA_DIR/logs/temporal.log" start_temporal "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$DATA_DIR/temporal/temporal.db"
  export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
fi

start_background worker - node -r @swc-node/register workers/main.ts
start_background api "$PORT" node -r @swc-node/register api/main.ts

# A local API key, created once and kept in the data folder (gitignored) for the examples.
KEY_FILE="$DATA_DIR/dev-api-key"
if [ ! -s "$KEY_FILE" ]; then
  node -r @swc-node/register scripts/api-key.ts create --name local-dev >"$KEY_FILE"
fi
API_KEY="$(cat "$KEY_FILE")"

cat <<MSG

durable-billing is running (Ctrl-C stops everything started here)
  API              http://localhost:$PORT        (API key in $KEY_FILE)
  Temporal Web UI  http://localhost:$TEMPORAL_UI_PORT
  Temporal gRPC    $TEMPORAL_ADDRESS
  PostgreSQL       $DATABASE_URL
  Stripe (local)   $STRIPE_API_BASE
  PayPal (local)   $PAYPAL_API_BASE
  Worker metrics   http://localhost:${METRICS_PORT:-9464}/metrics
  SMTP             $SMTP_HOST:${SMTP_PORT:-1025}   (emails sent: ${SMTP_MESSAGES_URL:-your mail server})

Try it:
  curl -s -X POST localhost:$PORT/v1/customers -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' -d '{"email":"ada@example.com","name":"Ada"}'

MSG
wait_for_any_exit
