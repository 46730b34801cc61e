"""SEA-HELM and lm-evaluation-harness: rendered commands for a 27B model, and parsing their result files."""

import shlex

import pytest

from evals import lm_eval, seahelm
from evals.lm_eval import LmEvalSettings, render_command
from evals.lm_eval import parse_results as parse_lm_eval
from evals.seahelm import SEAHELM_COMMIT, JudgeSettings, SeaHelmSettings, render_commands
from tests.helpers.engine_results import write_lm_eval

MODEL = "/lustre/models/sea-lion-v4-27b-it/hf"


def test_seahelm_commands_for_27b():
    settings = SeaHelmSettings(tensor_parallel_size=4, runs=[0, 1])
    lines = render_commands(settings, MODEL, "/lustre/evals/v4-27b")
    # the image's SEA-HELM must be the pinned commit; nothing is checked out or written there
    assert lines[0].startswith(
        "test \"$(git -c safe.directory='*' -C /opt/SEA-HELM rev-parse HEAD)\" = " + SEAHELM_COMMIT + " ||"
    )
    assert not any("checkout --quiet" in line or "git clone" in line for line in lines)
    prepare = shlex.split(lines[1])
    assert prepare[:6] == [
        "python",
        "-m",
        "evals.seahelm",
        "prepare-checkout",
        "/opt/SEA-HELM",
        "/lustre/evals/v4-27b/checkout",
    ]
    # the output is keyed to the model (the stage passes the key; run by hand, the weights' hash)
    assert lines[2] == f'key="${{SEAHELM_MODEL_KEY:-$(python -m evals.seahelm model-key {MODEL})}}"'
    assert lines[3] == 'out=/lustre/evals/v4-27b/"$key"'
    assert "OPENAI_API_KEY" not in "\n".join(lines)  # SEA-HELM's judge is local vLLM: no key needed
    runs = [line for line in lines if "seahelm_evaluation.py" in line]
    assert len(runs) == 2
    argv = shlex.split(runs[1].replace('"$out"', "OUT"))
    assert argv[:10] == [
        "uv",
        "run",
        "--frozen",
        "--no-sync",
        "--project",
        "/opt/SEA-HELM",
        "--directory",
        "/lustre/evals/v4-27b/checkout",
        "src/seahelm_evaluation.py",
        "--tasks",
    ]
    assert ' --output_dir "$out" ' in runs[1]  # the shell expands the keyed folder
    opts = dict(zip(argv[9::2], argv[10::2]))
    assert opts["--tasks"] == "seahelm" and opts["--model_type"] == "vllm"
    assert opts["--model_name"] == MODEL and opts["--output_dir"] == "OUT"
    assert "tensor_parallel_size=4" in opts["--model_args"].split(",")
    assert opts["--run"] == "1" and opts["--seed"] == "42008474"
    assert "--is_base_model" not in argv and "--rerun_cached_results" not in argv  # a requeue resumes


def test_each_run_has_sea_helms_seed():
    """run_evaluation.slurm's list: array task n runs run n with seeds[n]."""
    lines = render_commands(SeaHelmSettings(), MODEL, "/out")
    argvs = [shlex.split(line) for line in lines if "seahelm_evaluation.py" in line]
    pairs = [(int(a[a.index("--run") + 1]), int(a[a.index("--seed") + 1])) for a in argvs]
    assert pairs == list(enumerate([25008113, 42008474, 15226423, 28126671, 19128282, 39305000, 17765035, 23194592]))
    with pytest.raises(ValueError, match=r"runs \[8\] have no seed"):
        render_commands(SeaHelmSettings(runs=[0, 8]), MODEL, "/out")


def test_a_hub_id_is_evaluated_as_is():
    argv = shlex.split(render_commands(SeaHelmSettings(runs=[0]), "google/gemma-3-27b-it", "/out")[-1])
    assert argv[argv.index("--model_name") + 1] == "google/gemma-3-27b-it"
    with pytest.raises(ValueError, match="model_path"):
        render_commands(SeaHelmSettings(), "./models/mine", "/out")  # a relative path, not a hub id


def test_an_endpoint_judge_gets_its_key_by_name_only():
    judge = JudgeSettings(
        model_name="gpt-oss-120b", model_type="litellm", base_url="http://judge:8000/v1", api_key_env="JUDGE_KEY"
    )
    lines = render_commands(SeaHelmSettings(runs=[0], judge=judge, hf_home="/lustre/hf"), MODEL, "/out")
    assert 'export OPENAI_API_KEY="${JUDGE_KEY:?JUDGE_KEY is unset (judge key)}"' in lines
    assert "export HF_HOME=/lustre/hf HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1" in lines
    prepare = shlex.split(lines[1])
    assert prepare[prepare.index("--judge-type") + 1] == "litellm"
    assert prepare[prepare.index("--judge-base-url") + 1] == "http://judge:8000/v1"


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
    write_lm_eval(tmp_path, MODEL)
    parsed = parse_lm_eval(tmp_path)
    # IFEval as the Open LLM Leaderboard scores it: the mean of the prompt- and instruction-level strict accuracy
    assert parsed["tasks"]["leaderboard_ifeval"] == pytest.approx((75.0 + 80.0) / 2)
    assert parsed["scores"] == "raw"
    assert parsed["tasks"]["leaderboard_bbh"] == pytest.approx(60.0)
    assert len(parsed["tasks"]) == 6
    assert parsed["aggregate"]["languages"]["en"]["mean"] == pytest.approx((77.5 + 50 + 60 + 35 + 20 + 45) / 6)


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
