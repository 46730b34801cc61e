#!/usr/bin/env bash
# Builds .venv-seahelm: SEA-HELM at its pinned commit (installed --no-deps from the engine archive, or the upstream
# repository at that commit) with only what its results writer (src/aggregate_metrics.py, the run config written
# by OmegaConf, the dataloader's inference-file writer) and its leaderboard notebook's aggregation
# (helpers/results_aggregation.ipynb: numpy, pandas, scikit-learn, ujson, pyyaml, tqdm) import. tests/seahelm run
# there and hold this project's SEA-HELM numbers equal to SEA-HELM's own. Python 3.11 with
# --ignore-requires-python (SEA-HELM declares >=3.12; the code these tests run has no 3.12-only syntax).
# Idempotent: skips a working venv. The archive's extracted source stays in .venv-seahelm/seahelm (the notebook).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-seahelm
COMMIT=6844e6c5cae439a413281df31271d388fcbad12f
ARCHIVE=${SEAHELM_ARCHIVE:-../shared/engines/seahelm-6844e6c.tar.gz}
CHECK='import src.aggregate_metrics, sklearn, omegaconf, ujson, recipes; import pathlib; assert pathlib.Path(".venv-seahelm/seahelm/helpers/results_aggregation.ipynb").is_file()'
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  echo "tests/seahelm_env.sh: $VENV already built"
  exit 0
fi

rm -rf "$VENV"
python3.11 -m venv "$VENV"
mkdir -p "$VENV/seahelm"
if [ -f "$ARCHIVE" ]; then
  tar -xzf "$ARCHIVE" -C "$VENV/seahelm" --strip-components=1
else
  git clone --quiet https://github.com/aisingapore/SEA-HELM.git "$VENV/seahelm"
  git -C "$VENV/seahelm" checkout --quiet "$COMMIT"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q numpy==2.3.5 pandas==2.3.3 scikit-learn==1.8.0 pyyaml ujson==5.12.1 tqdm \
  omegaconf==2.4.0.dev3 pytest
"$VENV/bin/python" -m pip install -q --no-deps --ignore-requires-python "./$VENV/seahelm"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -c "$CHECK"
echo "tests/seahelm_env.sh: $VENV built"
