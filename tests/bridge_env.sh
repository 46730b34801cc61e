#!/usr/bin/env bash
# Builds .venv-bridge: the Megatron-Bridge 0.3.1 venv in which tests/bridge build real ConfigContainers on CPU.
# A venv of its own because Megatron-Bridge 0.3.1 pins transformers<5 (the main venv needs 5.x for the Gemma 3
# fixture) and is installed with --no-deps (its declared deps include Transformer Engine, which is GPU-only).
# The pin set is the one measured in /work/shared/notes/megatron-bridge.md. Idempotent: skips a working venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-bridge
# Installed-ness, not `import megatron.bridge`: that import needs Transformer Engine (tests/bridge/conftest.py
# puts a stand-in in place for the tests).
CHECK='import importlib.metadata as m, megatron.core, recipes, tensorboard; assert m.version("megatron-bridge") == "0.3.1"'
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  echo "tests/bridge_env.sh: $VENV already built"
  exit 0
fi

python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q \
  torch==2.13.0 megatron-core==0.16.1 transformers==4.57.6 huggingface-hub==0.36.2 datasets==5.0.1 \
  fsspec==2026.6.0 s3fs==2026.6.0 anyio==4.9.0 einops==0.8.2 megatron-energon==7.4.1 triton==3.9.0 \
  hydra-core==1.3.2 omegaconf==2.3.0 nemo-run==0.11.1 leptonai==0.27.3 rich pyyaml pytest \
  tensorboard==2.21.0  # megatron/bridge/training/state.py imports it (GlobalState: tests/bridge/test_exit_signal_trap.py)
"$VENV/bin/python" -m pip install -q --no-deps megatron-bridge==0.3.1
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -c "$CHECK"
echo "tests/bridge_env.sh: $VENV built"
