#!/usr/bin/env bash
# Installs the Kafka-protocol broker the audit tests stream to, idempotently: tansu, from
# crates.io (no Apache Kafka distribution is reachable from the package registries here).
# Building it takes about 15 minutes on 2 cores, once per machine; an installed binary of
# the pinned version is reused. Its build directory is kept outside any clone so that an
# interrupted build resumes.
set -euo pipefail
version="0.6.0"
bin="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  echo "kafka broker ready: $bin ($version)"
  exit 0
fi
echo "installing the Kafka-protocol broker tansu $version (once per machine, ~15 minutes)"
CARGO_TARGET_DIR="${AIRLOCK_TOOLS_TARGET_DIR:-/var/cache/airlock/tools-target}" \
  cargo install tansu --version "$version" --locked --features dynostore,postgres,libsql --quiet
"$bin" --version
