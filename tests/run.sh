#!/usr/bin/env bash
# The test command (README, and .ci/run from a clean clone): install everything the tests need into .venv,
# build the offline Gemma 3 270M fixture, start a real single-node Slurm when this machine can (root + apt),
# run pytest (extra arguments go to pytest), then the Megatron-Bridge config tests in .venv-bridge, stop Slurm.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'
python -m recipes.gemma3_fixture

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  trap 'bash slurm/local/stop.sh' EXIT
  bash slurm/local/start.sh
  export SEALION_REQUIRE_SLURM=1
else
  echo "tests/run.sh: not root with apt-get: the slurm-marked tests will be skipped" >&2
fi

python -m pytest --durations=15 "$@"

# Megatron-Bridge 0.3.1's ConfigContainer (cpt/sft): its own venv (it pins transformers<5; no Transformer Engine).
bash tests/bridge_env.sh
.venv-bridge/bin/python -m pytest tests/bridge
