#!/usr/bin/env bash
# CI: re-resolve every image's Python environment (containers/lock_images.py --check) with uv at the version
# containers/versions.env pins, in a throwaway venv (.venv-uv). Fails on a conflict with an image's base or when a
# committed lock in containers/locks/ is not what its inputs resolve to now. Needs network to PyPI only.
set -euo pipefail
cd "$(dirname "$0")/.."
uv_version=$(grep -E '^UV_VERSION=' containers/versions.env | cut -d= -f2)
if [ "$(.venv-uv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
  python3 -m venv .venv-uv
  .venv-uv/bin/python -m pip install -q "uv==$uv_version"
fi
PATH="$PWD/.venv-uv/bin:$PATH" python3 containers/lock_images.py --check "$@"
