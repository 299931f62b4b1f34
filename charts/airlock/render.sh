#!/usr/bin/env bash
# Renders the chart with the default and the production-like values into rendered/, which is
# committed: reviews see what a values change does, and the chart test fails while the
# committed output is stale. Usage: charts/airlock/render.sh [HELM]
set -euo pipefail
cd "$(dirname "$0")"
helm="${1:-${AIRLOCK_TEST_HELM:-$(command -v helm || bash ../../deploy/install-chart-tools.sh)}}"
mkdir -p rendered
"$helm" template airlock . --namespace airlock > rendered/default.yaml
"$helm" template airlock . --namespace airlock -f ci/production-values.yaml > rendered/production.yaml
