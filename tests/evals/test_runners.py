"""SEA-HELM and lm-evaluation-harness: rendered commands for a 27B model, and parsing their result files."""

import json
import shlex

import pytest

from evals import lm_eval, seahelm
from evals.lm_eval import LmEvalSettings, parse_results as parse_lm_eval, render_command
from evals.seahelm import SEAHELM_COMMIT, JudgeSettings, SeaHelmSettings, parse_results as parse_seahelm, render_commands

MODEL = "/lustre/models/sea-lion-v4-27b-it/hf"


def test_seahelm_commands_for_27b():
    settings = SeaHelmSettings(tensor_parallel_size=4, runs=[0, 1], judge=JudgeSettings(api_key_env="JUDGE_KEY"))
    lines = render_commands(settings, MODEL, "/lustre/evals/v4-27b")
    assert f"checkout --quiet {SEAHELM_COMMIT}" in lines[2]
    assert 'OPENAI_API_KEY="${JUDGE_KEY}"' in "\n".join(lines)
    runs = [shlex.split(line) for line in lines if "seahelm_evaluation.py" in line]
    assert len(runs) == 2
    argv = runs[1]
    assert argv[:5] == ["uv", "run", "--directory", "/opt/SEA-HELM", "src/seahelm_evaluation.py"]
    opts = dict(zip(argv[5::2], argv[6::2]))
    assert opts["--tasks"] == "seahelm" and opts["--model_type"] == "vllm"
    assert opts["--model_name"] == MODEL and opts["--output_dir"] == "/lustre/evals/v4-27b"
    assert "tensor_parallel_size=4" in opts["--model_args"].split(",")
    assert opts["--run"] == "1"
    assert "--is_base_model" not in argv


def _write_seahelm_run(root, run, id_acc, vi_acc):
    results = root / "hf" / f"run_{run}" / "results"
    results.mkdir(parents=True)
    data = {
        "id": {"nlu": {"sentiment": {"accuracy": 80.0, "normalized_accuracy": id_acc, "null_count": 0}},
               "nlg": {"translation": {"metricx_wmt24_scores": 3.1, "normalized_metricx_wmt24_scores": 80.0,
                                        "normalized_chrf": 10.0}}},
        "vi": {"nlu": {"sentiment": {"accuracy": 70.0, "normalized_accuracy": vi_acc, "null_count": 1}}},
    }
    (results / f"hf_seahelm_results_2026-01-0{run + 1}T10:00:00.json").write_text(json.dumps(data))


def test_seahelm_parse_two_runs(tmp_path):
    _write_seahelm_run(tmp_path, 0, 60.0, 40.0)
    _write_seahelm_run(tmp_path, 1, 70.0, 50.0)
    parsed = parse_seahelm(tmp_path)
    agg = parsed["aggregate"]
    assert agg["n_seeds"] == 2
    # id: seed 0 = (60 + 80)/2 = 70, seed 1 = (70 + 80)/2 = 75
    assert agg["languages"]["id"]["mean"] == pytest.approx(72.5)
    assert agg["tasks"]["translation"]["id"]["mean"] == pytest.approx(80.0)
    assert agg["sea_average"]["mean"] == pytest.approx((72.5 + 45.0) / 2)


def test_lm_eval_commands():
    vllm = shlex.split(render_command(LmEvalSettings(tensor_parallel_size=4), MODEL, "/out"))
    opts = dict(zip(vllm[1::2], vllm[2::2]))
    assert vllm[0] == "lm_eval" and opts["--model"] == "vllm" and opts["--tasks"] == "leaderboard"
    assert {f"pretrained={MODEL}", "tensor_parallel_size=4"} <= set(opts["--model_args"].split(","))
    assert "--apply_chat_template" in vllm and "--fewshot_as_multiturn" in vllm
    hf = shlex.split(render_command(LmEvalSettings(backend="hf", limit=5), MODEL, "/out"))
    assert "hf" in hf and "tensor_parallel_size" not in " ".join(hf) and hf[hf.index("--limit") + 1] == "5"
    with pytest.raises(ValueError, match="backend"):
        render_command(LmEvalSettings(backend="sglang"), MODEL, "/out")


def test_lm_eval_parse(tmp_path):
    out = tmp_path / "__lustre__models__sea-lion"
    out.mkdir()
    data = {
        "results": {
            "leaderboard_ifeval": {"alias": " - leaderboard_ifeval", "prompt_level_strict_acc,none": 0.75,
                                   "inst_level_strict_acc,none": 0.8},
            "leaderboard_mmlu_pro": {"alias": " - leaderboard_mmlu_pro", "acc,none": 0.5, "acc_stderr,none": 0.01},
            "leaderboard_bbh_boolean_expressions": {"acc_norm,none": 0.9},
        },
        "groups": {
            "leaderboard_bbh": {"alias": " - leaderboard_bbh", "acc_norm,none": 0.6},
            "leaderboard_gpqa": {"alias": " - leaderboard_gpqa", "acc_norm,none": 0.35},
            "leaderboard_math_hard": {"alias": " - leaderboard_math_hard", "exact_match,none": 0.2},
            "leaderboard_musr": {"alias": " - leaderboard_musr", "acc_norm,none": 0.45},
        },
        "model_name": MODEL,
    }
    (out / "results_2026-01-01T10-00-00.json").write_text(json.dumps(data))
    parsed = parse_lm_eval(tmp_path)
    assert parsed["tasks"]["leaderboard_ifeval"] == pytest.approx(75.0)
    assert parsed["tasks"]["leaderboard_bbh"] == pytest.approx(60.0)
    assert len(parsed["tasks"]) == 6
    assert parsed["aggregate"]["languages"]["en"]["mean"] == pytest.approx((75 + 50 + 60 + 35 + 20 + 45) / 6)


def test_seahelm_rejects_relative_paths():
    with pytest.raises(ValueError, match="output_dir"):
        render_commands(SeaHelmSettings(), MODEL, "evals/out")


def test_run_writes_executable_scripts(tmp_path):
    out = str(tmp_path / "v4-27b")
    written = seahelm.run(SeaHelmSettings(tensor_parallel_size=8, runs=[0]), MODEL, out)
    text = (tmp_path / "v4-27b" / "run_seahelm.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash\nset -euo pipefail\n") and written["commands"][-1] in text
    assert "tensor_parallel_size=8" in text
    lm = lm_eval.run(LmEvalSettings(tensor_parallel_size=8), MODEL, out)
    assert (tmp_path / "v4-27b" / "run_lm_eval.sh").read_text().rstrip().endswith(lm["command"])
