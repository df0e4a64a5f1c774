# Shared settings for the stack scripts. Sourced, not run.
# Tool builds are cached outside the checkout, keyed by version, so fresh clones (CI) reuse them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DURABLE_BILLING_CACHE:-$HOME/.cache/durable-billing}"

TEMPORAL_CLI_VERSION="v1.5.1"        # newest tag `go install` accepts (see shared/TOOLCHAIN.md)
STRIPE_MOCK_VERSION="v0.203.0"
TEMPORAL_TEST_SERVER_VERSION="1.31.0" # Java time-skipping server, with Update support

TEMPORAL_BIN_DIR="$CACHE/temporal-cli-$TEMPORAL_CLI_VERSION"
STRIPE_MOCK_BIN_DIR="$CACHE/stripe-mock-$STRIPE_MOCK_VERSION"
TEST_SERVER_DIR="$CACHE/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# The Temporal CLI binary: one on PATH wins, else our cached build.
temporal_bin() {
  if [ -n "${TEMPORAL_CLI:-}" ]; then echo "$TEMPORAL_CLI"; return; fi
  if command -v temporal >/dev/null 2>&1; then command -v temporal; return; fi
  echo "$TEMPORAL_BIN_DIR/temporal"
}

stripe_mock_bin() {
  if command -v stripe-mock >/dev/null 2>&1; then command -v stripe-mock; return; fi
  echo "$STRIPE_MOCK_BIN_DIR/stripe-mock"
}

# Wait until a TCP port on localhost accepts connections.
wait_for_port() {
  local port="$1" what="$2" seconds="${3:-120}"
  local i
  for ((i = 0; i < seconds * 5; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "$what did not open port $port within ${seconds}s"
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# npm dependencies: installed from the lockfile when missing or older than it.
ensure_node_modules() {
  if [ ! -f "$ROOT/node_modules/.package-lock.json" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    log "installing npm dependencies"
    # `npm ci` refuses a lockfile without entries for other platforms' optional binaries
    # (@swc/core-darwin-*), which a registry mirror may not serve; `npm install` installs
    # the same locked versions and tolerates that.
    (cd "$ROOT" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error; })
  fi
}
