#!/usr/bin/env bash
# Resolve SEA-HELM's environment at SEAHELM_COMMIT into containers/seahelm.uv.lock (commit it), so every eval image
# build syncs the same packages (containers/eval.Dockerfile: uv sync --frozen; jobs: uv run --frozen --no-sync). Needs uv UV_VERSION and network to
# PyPI, GitHub (its vLLM wheel URL) and the PyTorch and FlashInfer indexes its pyproject names.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source <(grep -E '^(SEAHELM_COMMIT|SEAHELM_PYTHON|SEAHELM_RESOLVED_AT|UV_VERSION)=' "$here/versions.env")
if [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "lock_seahelm.sh: needs uv $UV_VERSION (versions.env), found $(uv --version)" >&2
  exit 1
fi
checkout="$(mktemp -d)"
trap 'rm -rf "$checkout"' EXIT
git clone --quiet https://github.com/aisingapore/SEA-HELM.git "$checkout"
git -C "$checkout" checkout --quiet "$SEAHELM_COMMIT"
uv lock --python "$SEAHELM_PYTHON" --exclude-newer "$SEAHELM_RESOLVED_AT" --directory "$checkout"
cp "$checkout/uv.lock" "$here/seahelm.uv.lock"
echo "wrote $here/seahelm.uv.lock (SEA-HELM $SEAHELM_COMMIT, Python $SEAHELM_PYTHON): commit it"
