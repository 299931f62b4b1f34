#!/usr/bin/env bash
# The first command of the README: install what is missing, build, and start `airlock serve`
# on the embedded defaults (SQLite, bubblewrap sandboxes, the bundled policy, the development
# issuer on loopback). Stop it with Ctrl-C; sandboxes are destroyed on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-runtime.sh
bash deploy/install-build-deps.sh
if ! command -v cargo >/dev/null; then
  echo "cargo is required: https://rustup.rs" >&2
  exit 1
fi
cargo build --release --bins
target="${CARGO_TARGET_DIR:-target}/release"
echo
echo "Mint a token in another terminal:"
echo "  TOKEN=\$($target/airlock token mint --config deploy/airlock.dev.toml --sub you@example.com --groups analysts)"
echo
exec "$target/airlock" serve --config deploy/airlock.dev.toml
