"""bench/gpu_check.py on CPU: the window's time keeping (each check's own limit, one failure does not stop the
rest, a check that no longer fits is not reached), the disk each check needs, the readers of Megatron-Bridge's
training log, the verdict rules, and the commands the GPU checks launch (composed and preflighted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import torch

from bench import gpu_check as gc

REPO = Path(__file__).resolve().parents[2]


def _sleeper(seconds: float):
    def run(ws: gc.Workspace) -> dict:
        gc.run_process([sys.executable, "-c", f"import time; time.sleep({seconds})"], ws, "sleeper")
        return {"slept": seconds}

    return run


def _broken(ws: gc.Workspace) -> dict:
    (ws.root / "scratch").write_text("x")
    return {"value": 1 / 0}


def test_each_check_has_its_own_limit_and_the_window_goes_on(tmp_path):
    checks = (
        gc.Check("slow", 1, "", _sleeper(30)),
        gc.Check("broken", 5, "", _broken),
        gc.Check("quick", 5, "", _sleeper(0)),
        gc.Check("late", 600, "", _sleeper(0)),
    )
    outcomes = {o.name: o for o in gc.run_checks(checks, budget_s=40, work=tmp_path, fixture=None)}
    assert outcomes["slow"].verdict == "timeout" and outcomes["slow"].seconds < 5  # killed at its 1 s limit
    assert outcomes["broken"].verdict == "error" and outcomes["broken"].message.startswith("ZeroDivisionError")
    assert outcomes["quick"].verdict == "pass" and outcomes["quick"].figures == {"slept": 0}
    assert outcomes["late"].verdict == "not reached"  # under 60 s of the 40 s window left
    assert not (tmp_path / "broken").exists() and (tmp_path / "logs" / "sleeper.log").exists()


def test_a_failing_command_is_one_line_naming_its_log(tmp_path):
    ws = gc.Workspace(root=tmp_path, logs=tmp_path, deadline=gc.time.monotonic() + 30, fixture=None)
    with pytest.raises(gc.CheckFailed, match=r"^bad exited 3; log: .*bad.log: ValueError: field x is wrong$"):
        gc.run_process(
            [sys.executable, "-c", "import sys; print('ValueError: field x is wrong'); sys.exit(3)"], ws, "bad"
        )


def test_the_disk_each_check_needs_stays_under_30_gb():
    # Gemma 3 270M's shapes, 2 layers: 262144 x 640 embedding + 2 x (640 x (1024 + 2 x 256) + 1024 x 640 + 2 x 256
    # + 3 x 640 x 2048 + 4 x 640) + the final norm's 640
    params = 262144 * 640 + 2 * (640 * 1536 + 1024 * 640 + 512 + 3 * 640 * 2048 + 4 * 640) + 640
    assert gc.small_parameters() == params == 178_920_064
    need = gc.disk_need_gb()
    assert need["preemption"] == pytest.approx(3 * params * 14 / 1e9)  # three checkpoints of 14 B a parameter
    assert need["round_trip"] == pytest.approx(4 * params * 2 / 1e9 + 2 * params * 14 / 1e9)
    assert max(need.values()) < gc.DISK_LIMIT_GB
    assert set(need) == {c.name for c in gc.CHECKS} - {"environment"}


def bridge_line(iteration, iters, consumed, lr, losses):
    """One line as Megatron-Bridge 0.3.1's training_log writes it (megatron/bridge/training/utils/train_utils.py)."""
    line = f" [{datetime.now().strftime('%Y-%m-%d %H:%M:%S')}]"
    line += f" iteration {iteration:8d}/{iters:8d} |"
    line += f" consumed samples: {consumed:12d} |"
    line += f" elapsed time per iteration (ms): {1234.5:.1f} |"
    line += f" learning rate: {lr:.6E} |"
    line += f" global batch size: {8:5d} |"
    for key, avg in losses.items():
        line += f" {key}: {avg:.6E} |"
    line += f" loss scale: {1.0:.1f} |"
    return line


def test_training_log_reads_bridges_iteration_lines():
    text = "\n".join(
        [
            "> building train, validation, and test datasets ...",
            bridge_line(1, 30, 2, 1.0e-5, {"lm loss": 12.4521}),
            bridge_line(2, 30, 4, 2.0e-5, {"lm loss": 11.25}),
            bridge_line(2, 30, 4, 2.0e-5, {"lm loss": 11.5}),
        ]
    )  # a rerun's line for the same iteration
    assert gc.training_log(text) == {
        1: {"consumed_samples": 2, "lr": 1.0e-5, "loss": 12.4521},
        2: {"consumed_samples": 4, "lr": 2.0e-5, "loss": 11.5},
    }


def test_language_validation_log_reads_each_languages_loss():
    # Bridge's evaluate_and_print_results (megatron/bridge/training/eval.py) with LanguageValidation's prefix
    lines = [
        f" validation loss at iteration 2 [{lang}] | "
        + "{} value: {:.6E} | ".format("lm loss", loss)
        + "{} PPL: {:.6E} | ".format("lm loss", 2.0)
        for lang, loss in (("id", 9.5), ("th", 10.25))
    ]
    assert gc.language_validation_log("\n".join(lines)) == {"id": {2: 9.5}, "th": {2: 10.25}}


def _log(**changes):
    rows = {it: {"consumed_samples": 2 * it, "lr": 1e-4 * it, "loss": 10.0 - it / 10} for it in range(1, 7)}
    for it, row in changes.items():
        rows[int(it[1:])].update(row)
    return rows


def test_resumed_run_is_compared_after_its_checkpoint_only():
    reference = _log()
    assert gc.compare_resumed({k: v for k, v in _log(i2={"loss": 99.0}).items() if k > 3}, reference, after=3) == []
    assert gc.compare_resumed(_log(i5={"consumed_samples": 12}), reference, after=3) == [
        "iteration 5: consumed samples 12 != 10"
    ]
    assert gc.compare_resumed(_log(i4={"lr": 4.001e-4}), reference, after=3) == [
        "iteration 4: learning rate 4.001000E-04 != 4.000000E-04"
    ]
    assert gc.compare_resumed(_log(i6={"loss": 9.4 * 1.019}), reference, after=3) == []  # within 2%
    assert gc.compare_resumed(_log(i6={"loss": 9.4 * 1.03}), reference, after=3)[0].startswith("iteration 6: loss")
    missing = {k: v for k, v in reference.items() if k != 5}
    assert gc.compare_resumed(missing, reference, after=3) == ["iteration 5 missing"]


def test_logits_agreement_verdict():
    torch.manual_seed(0)
    logits = torch.randn(1, 12, 64) * 3
    same = gc.logprob_agreement(logits, logits + 0.5)  # a constant shift: the same log-probabilities
    assert same["logits_match"] and same["logprob_max_abs"] < 1e-5 and same["top1_agreement"] == 1.0
    bf16 = gc.logprob_agreement(logits, logits.bfloat16().float())
    assert bf16["logits_match"]  # bf16 rounding of logits of this size stays within the tolerance
    noisy = gc.logprob_agreement(logits, logits + torch.randn_like(logits))
    assert not noisy["logits_match"] and noisy["logprob_mean_abs"] > gc.LOGPROB_MEAN_ABS


def test_fp8_tracks_bf16_over_the_last_five_iterations():
    bf16 = [12.0] * 15 + [2.0] * 5
    result = gc.fp8_tracks_bf16(
        {"bf16": bf16, "fp8_current": [12.0] * 15 + [2.2] * 5, "fp8_delayed": [12.0] * 15 + [1.8] * 5}
    )
    assert result["fp8_relative_gap_last5"] == pytest.approx({"fp8_current": 0.1, "fp8_delayed": -0.1})
    assert result["fp8_tracks_bf16"]
    stuck = gc.fp8_tracks_bf16({"bf16": bf16, "fp8_delayed": [11.8] * 20})  # FP8 that does not learn
    assert not stuck["fp8_tracks_bf16"]


def test_only_names_known_checks():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--only", "round_trip,speed"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=gc.env(),
    )
    assert proc.returncode == 2 and "--only: unknown ['speed']; choose from environment, round_trip" in proc.stderr


def test_without_a_gpu_every_check_says_so_and_the_json_is_written(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.gpu_check",
            "--only",
            "environment",
            "--work",
            str(tmp_path / "w"),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=gc.env(),
    )
    assert proc.returncode == 1
    results = json.loads(out.read_text())
    (environment,) = results["checks"]
    assert environment["verdict"] == "fail" and environment["message"].startswith("no CUDA device")
    assert results["not_passed"] == {"environment": "fail"} and "GPU check on no GPU" in proc.stdout


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from recipes.gemma3_fixture import fixture_dir

    return gc.save_random_gemma3(fixture_dir(), tmp_path_factory.mktemp("model") / "random_gemma3")


def test_the_random_small_gemma3_loads_in_transformers(small_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(small_model)
    assert model.config.num_hidden_layers == gc.SMALL_LAYERS
    assert sum(p.numel() for p in model.parameters()) == gc.small_parameters()
    assert (small_model / "tokenizer.json").exists()


def test_the_round_trip_pipeline_composes_and_evaluates_sfts_export(small_model, tmp_path):
    ws = gc.Workspace(root=tmp_path, logs=tmp_path, deadline=0, fixture=None)
    proc = subprocess.run(
        [sys.executable, "-m", "recipes.pipeline", *gc.round_trip_overrides(ws, small_model), "launch.dryrun=true"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=gc.env(),
    )
    assert proc.returncode == 0, proc.stderr
    runs = tmp_path / "runs" / "round_trip"
    from omegaconf import OmegaConf

    cpt, ev = (OmegaConf.load(runs / stage / "resolved.yaml") for stage in ("cpt", "eval"))
    assert cpt.checkpoint.pretrained_checkpoint == str(runs / "hf_import" / "artifact" / "megatron")
    assert cpt.model.num_layers == gc.SMALL_LAYERS and cpt.model.hf_id == str(small_model)
    assert ev.eval.model == str(runs / "sft" / "artifact" / "hf")


def test_the_preemption_runs_render_as_torchrun_commands(small_model, tmp_path):
    ws = gc.Workspace(root=tmp_path, logs=tmp_path, deadline=gc.time.monotonic() + 120, fixture=None)
    cmd, run_dir = gc.rendered_command(
        ws, small_model, "interrupted", ["train.train_iters=30", "checkpoint.save_interval=10"]
    )
    assert cmd[:1] == ["torchrun"] and cmd[-2:] == ["--run-dir", str(run_dir)]
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / "resolved.yaml")
    assert cfg.checkpoint.pretrained_checkpoint is None and cfg.dataset.mock  # random init, mock tokens
    assert (cfg.train.train_iters, cfg.checkpoint.save_interval, cfg.train.global_batch_size) == (30, 10, 2)


def test_the_language_validation_run_composes_with_a_validation_share(tmp_path):
    """data_prep then cpt on real tokens: half of each language's four sample documents held out (measured on the
    sample corpus: every language's validation cut has 50 to 110 tokens, which check_validation_split accepts)."""
    from recipes.core.config import to_object
    from recipes.stages import compose

    ws = gc.Workspace(root=tmp_path, logs=tmp_path, deadline=0, fixture=None)
    overrides = gc.language_validation_overrides(ws, tmp_path / "m")
    assert "pipeline.stages=[data_prep,cpt]" in overrides
    cfg = to_object(compose("cpt", [o for o in overrides if not o.startswith("pipeline.")]))
    assert cfg.dataset.split == "50,50,0" and cfg.dataset.validation_per_language and not cfg.dataset.mock
    assert (cfg.train.eval_iters, cfg.train.eval_interval, cfg.train.train_iters) == (1, 2, 4)
    assert cfg.checkpoint.pretrained_checkpoint is None and cfg.checkpoint.save_interval == 0
