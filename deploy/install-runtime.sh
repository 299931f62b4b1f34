#!/usr/bin/env bash
# Installs what the local sandbox backend needs, idempotently:
#   - Debian packages: bubblewrap, python3-venv (the runtime is a venv of /usr/bin/python3,
#     so inside the sandbox only /usr needs to be bound), util-linux (setpriv), fonts, nodejs.
#   - the pinned Python runtime at $AIRLOCK_RUNTIME_DIR (default /opt/airlock/runtime),
#     rebuilt only when deploy/runtime/requirements.txt changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runtime="${AIRLOCK_RUNTIME_DIR:-/opt/airlock/runtime}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v setpriv >/dev/null || need+=(util-linux)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v node >/dev/null || need+=(nodejs)
[ -d /etc/fonts ] || need+=(fontconfig-config fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

stamp="$(sha256sum "$here/runtime/requirements.txt" | cut -c1-16)"
if [ "$(cat "$runtime/.airlock-stamp" 2>/dev/null || true)" != "$stamp" ]; then
  echo "building the sandbox Python runtime in $runtime"
  $sudo rm -rf "$runtime"
  $sudo mkdir -p "$(dirname "$runtime")"
  $sudo /usr/bin/python3 -m venv "$runtime"
  $sudo "$runtime/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r "$here/runtime/requirements.txt"
  echo "$stamp" | $sudo tee "$runtime/.airlock-stamp" >/dev/null
fi
# Nothing the runtime does not need: setuptools (pkg_resources, _distutils_hack) comes with
# every venv and nothing here requires it (pip is kept: granted installs use it).
if "$runtime/bin/python" -c 'import importlib.metadata as m; m.distribution("setuptools")' 2>/dev/null; then
  $sudo "$runtime/bin/pip" uninstall -y -q --disable-pip-version-check setuptools
fi
# Airlock's own helpers (airlock.sql), refreshed on every run: they change with the gateway.
purelib="$("$runtime/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for f in airlock/__init__.py airlock/_imports.py airlock/_kernel.py sitecustomize.py; do
  if ! cmp -s "$here/runtime/$f" "$purelib/$f" 2>/dev/null; then
    $sudo install -D -m 0644 "$here/runtime/$f" "$purelib/$f"
  fi
done
echo "sandbox runtime ready: $runtime"
