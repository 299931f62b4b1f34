#!/usr/bin/env bash
# Runs regorus's own test suite and lints against Airlock's patched copy (third_party/regorus):
# the released crate (which ships its tests) is unpacked from cargo's cache, checked against the
# checksum Cargo.lock pins, the patched src/ and build.rs are laid over it, and
#   - cargo test --locked --lib --test mod --test arc   (the interpreter's YAML cases, engine,
#     lexer, parser and value tests)
#   - cargo clippy --locked --lib, with upstream's own lint configuration: any finding in a
#     patched file fails; findings in untouched upstream files are reported only.
# The build is cached in $AIRLOCK_REGORUS_SUITE_DIR (default /var/cache/airlock/regorus-suite).
# policy/tests/regorus_pristine.rs separately requires the copy to be the release plus
# third_party/regorus/airlock.patch exactly.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version=0.14.1
work="${AIRLOCK_REGORUS_SUITE_DIR:-/var/cache/airlock/regorus-suite}"
mkdir -p "$work"

crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/regorus-$version.crate 2>/dev/null | head -1 || true)"
if [ -z "$crate" ]; then
  # The workspace's dev-dependency on the release brings it into the cache.
  (cd "$here" && cargo fetch --locked >/dev/null)
  crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/regorus-$version.crate | head -1)"
fi
want="$(awk -v v="$version" '/^\[\[package\]\]/{n="";ver=""} /^name = /{n=$3} /^version = /{ver=$3} /^checksum = /{ if (n=="\"regorus\"" && ver=="\""v"\"") print $3 }' "$here/Cargo.lock" | tr -d '"')"
got="$(sha256sum "$crate" | cut -d' ' -f1)"
if [ "$want" != "$got" ]; then
  echo "regorus $version in cargo's cache does not match Cargo.lock ($got != $want)" >&2
  exit 1
fi

tree="$work/tree"
rm -rf "$tree"
mkdir -p "$tree"
tar xzf "$crate" -C "$tree" --strip-components=1
rm -rf "$tree/src" "$tree/build.rs"
cp -r "$here/third_party/regorus/src" "$here/third_party/regorus/build.rs" "$tree/"

cd "$tree"
export CARGO_TARGET_DIR="$work/target"
echo "regorus $version + airlock.patch: the upstream test suite"
if ! out="$(cargo test --locked --lib --test mod --test arc 2>&1)"; then
  echo "regorus's own tests fail on the patched copy:" >&2
  printf '%s\n' "$out" | grep -E 'FAILED|panicked|^error' | head -40 >&2
  exit 1
fi
printf '%s\n' "$out" | grep -E '^test result' || true

echo "regorus $version + airlock.patch: clippy with upstream's lint configuration"
patched="$(grep '^+++ b/src/' "$here/third_party/regorus/airlock.patch" | sed 's|^+++ b/||')"
findings="$(cargo clippy --locked --lib --message-format=short 2>&1 | grep -E '^src/[^:]+:[0-9]+:[0-9]+: (warning|error)' || true)"
bad=""
while IFS= read -r line; do
  [ -z "$line" ] && continue
  file="${line%%:*}"
  if printf '%s\n' "$patched" | grep -qxF "$file"; then
    bad="$bad$line"$'\n'
  else
    echo "  upstream (not patched here): $line"
  fi
done <<< "$findings"
if [ -n "$bad" ]; then
  echo "clippy findings in patched files:" >&2
  printf '%s' "$bad" >&2
  exit 1
fi
echo "regorus checks passed"
