"""The pipeline's wiring between stages: an eval after sft evaluates the model sft trained and exports, not the
hub checkpoint the experiment starts from."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EVAL_27B = ["experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true", "cluster.account=sealion",
            "cluster.partition=gpu", "launch.check_paths=false"]


def pipeline(*args):
    return subprocess.run([sys.executable, "-m", "recipes.pipeline", *EVAL_27B, *args], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"}, timeout=300)


def test_eval_after_sft_evaluates_the_sft_export(tmp_path):
    out = pipeline(f"launch.root={tmp_path}", "pipeline.stages=[sft,eval]")
    assert out.returncode == 0, out.stderr
    export = tmp_path / "sealion_v4_27b" / "sft" / "artifact" / "hf"  # recipes/sft.py's HF_EXPORT
    seahelm = (tmp_path / "sealion_v4_27b" / "eval" / "launch" / "seahelm.sh").read_text()
    assert f"--model_name {export} " in seahelm


def test_an_eval_model_given_by_the_user_still_wins(tmp_path):
    out = pipeline(f"launch.root={tmp_path}", "pipeline.stages=[sft,eval]", "eval.model=/shared/models/other")
    assert out.returncode == 0, out.stderr
    seahelm = (tmp_path / "sealion_v4_27b" / "eval" / "launch" / "seahelm.sh").read_text()
    assert "--model_name /shared/models/other " in seahelm
