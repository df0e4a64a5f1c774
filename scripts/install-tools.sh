#!/usr/bin/env bash
# Installs the non-npm toolchain, idempotently, into the cache outside the checkout:
#   Temporal CLI (dev server + Web UI), stripe-mock, Temporal's Java time-skipping test server,
#   and PostgreSQL (Debian package) when no server is reachable and none is installed.
source "$(dirname "$0")/lib.sh"

# Go module and build caches default to $HOME/go and $HOME/.cache/go-build: already outside the
# checkout, so repeated builds reuse downloaded modules.
export GOFLAGS="${GOFLAGS:--mod=mod}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

install_temporal_cli() {
  local bin; bin="$(temporal_bin)"
  if [ -x "$bin" ]; then return; fi
  log "building Temporal CLI $TEMPORAL_CLI_VERSION (first build is slow: several minutes)"
  mkdir -p "$TEMPORAL_BIN_DIR"
  local start=$SECONDS
  GOBIN="$TEMPORAL_BIN_DIR.tmp" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
  mv "$TEMPORAL_BIN_DIR.tmp/temporal" "$TEMPORAL_BIN_DIR/temporal" && rmdir "$TEMPORAL_BIN_DIR.tmp"
  log "Temporal CLI built in $((SECONDS - start))s"
}

install_stripe_mock() {
  local bin; bin="$(stripe_mock_bin)"
  if [ -x "$bin" ]; then return; fi
  log "building stripe-mock $STRIPE_MOCK_VERSION"
  mkdir -p "$STRIPE_MOCK_BIN_DIR"
  local start=$SECONDS
  GOBIN="$STRIPE_MOCK_BIN_DIR.tmp" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
  mv "$STRIPE_MOCK_BIN_DIR.tmp/stripe-mock" "$STRIPE_MOCK_BIN_DIR/stripe-mock" && rmdir "$STRIPE_MOCK_BIN_DIR.tmp"
  log "stripe-mock built in $((SECONDS - start))s"
}

install_test_server() {
  if [ -x "$TEST_SERVER_DIR/test-server" ] && [ -d "$TEST_SERVER_DIR/lib" ]; then return; fi
  log "fetching Temporal time-skipping test server $TEMPORAL_TEST_SERVER_VERSION from Maven Central"
  local work="$TEST_SERVER_DIR.tmp"
  rm -rf "$work"; mkdir -p "$work"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.durable-billing</groupId><artifactId>test-server-fetch</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId>
      <version>$TEMPORAL_TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/lib")
  # exec so that the SDK's kill of this process reaches the JVM itself.
  # The flags trade peak speed for start-up time: the SDK allows the server only seconds to listen.
  cat >"$work/test-server" <<SH
#!/usr/bin/env bash
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Xss512k \\
  -cp '$TEST_SERVER_DIR/lib/*' io.temporal.testserver.TestServer "\$@"
SH
  chmod +x "$work/test-server"
  rm -rf "$TEST_SERVER_DIR"; mv "$work" "$TEST_SERVER_DIR"
}

install_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then return; fi
  if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then return; fi
  log "installing PostgreSQL from Debian's packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
}

what="${1:-all}"
case "$what" in
  temporal) install_temporal_cli ;;
  stripe-mock) install_stripe_mock ;;
  test-server) install_test_server ;;
  postgres) install_postgres ;;
  all) install_postgres; install_test_server; install_stripe_mock; install_temporal_cli ;;
  *) log "unknown tool $what"; exit 2 ;;
esac
