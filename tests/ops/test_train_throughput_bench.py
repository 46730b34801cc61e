"""bench/train_throughput.py on CPU: the workload it measures, the baseline step at a tiny scale, the refusal without
a GPU and the result assembly. The GPU measurements themselves need an H100 and the train container."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import train_throughput as bench
from recipes.submit import memory

REPO = Path(__file__).resolve().parents[2]
# The proxy's model cut to a CPU size: 7 layers make the [5, 1] pattern put one global layer among six local ones.
TINY = [
    "model.hidden_size=64",
    "model.ffn_hidden_size=128",
    "model.num_attention_heads=4",
    "model.num_query_groups=2",
    "model.kv_channels=16",
    "model.vocab_size=512",
    "model.num_layers=7",
    "model.window_size=16",
    "dataset.sequence_length=64",
]


@pytest.fixture(scope="module")
def proxy():
    return bench.proxy_config("bf16", warmup=3, steps=10)


@pytest.fixture(scope="module")
def tiny():
    return bench.proxy_config("bf16", warmup=1, steps=5, extra=TINY)


def test_the_proxy_is_the_recipe_cut_to_a_benchmark(proxy):
    assert proxy.run.experiment == "gemma3_27b_proxy" and proxy.stage.name == "cpt"
    m = proxy.model
    assert (m.hidden_size, m.num_attention_heads, m.num_query_groups, m.kv_channels) == (5376, 32, 16, 128)
    assert (m.ffn_hidden_size, m.vocab_size, m.num_layers, m.window_size) == (21504, 262208, 4, 1024)
    assert (m.tensor_model_parallel_size, m.pipeline_model_parallel_size) == (1, 1)
    assert (proxy.dataset.sequence_length, proxy.train.global_batch_size, proxy.train.micro_batch_size) == (4096, 8, 1)
    assert proxy.train.train_iters == 13 and proxy.train.eval_interval > 13  # warm-up + measured, no evaluation
    assert proxy.dataset.mock and not proxy.dataset.validation_per_language
    assert proxy.checkpoint.save_interval == 0  # Bridge saves neither on an interval nor at the end
    assert proxy.mixed_precision.name == "bf16_mixed" and proxy.cluster.gpus_per_node == 1


def test_fp8_presets_reach_the_composed_config():
    cfg = bench.proxy_config("fp8_current", warmup=3, steps=10)
    assert cfg.mixed_precision.name == "bf16_with_fp8_current_scaling_mixed"


def test_too_few_iterations_for_the_lr_warmup_is_refused():
    with pytest.raises(bench.BenchError, match=r"--warmup \+ --steps = 4 must exceed .*lr_warmup_iters \(5\)"):
        bench.proxy_config("bf16", warmup=1, steps=3)


def test_flops_per_token_of_the_proxy_by_hand(proxy):
    h, q, kv, f, vocab, layers, window = 5376, 32 * 128, 16 * 128, 21504, 262208, 4, 1024
    per_layer = h * (q + 2 * kv) + q * h + 2 * 128 + 3 * h * f + 4 * h  # QKV, out, QK norms, MLP, 4 RMSNorms
    params = layers * per_layer + vocab * h + h  # tied embedding, final norm
    assert params == 3_061_229_824
    # all four layers are local: each query sees `window` keys; QK^T and AV, 2 FLOPs per MAC, fwd + bwd
    attention = layers * 2 * 2 * 3 * q * window
    assert memory.flops_per_token(proxy) == 6 * params + attention == 18_568_705_536
    # the notes' HF baseline (1487 ms per 8 x 4096-token step) is 409 TFLOP/s under this count
    assert round(memory.flops_per_token(proxy) * 8 * 4096 / 1.487 / 1e12) == 409


def test_flops_per_token_counts_global_layers_causally(tiny):
    q, seq, window = 4 * 16, 64, 16
    attention = 12 * q * (1 * seq / 2 + 6 * window)  # layer 5 global (s/2 keys on average), six local
    assert memory.flops_per_token(tiny) == 6 * memory.total_parameters(tiny) + attention


def test_baseline_model_has_the_recipe_shapes(tiny, proxy):
    config = bench.baseline_model_config(proxy)
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (5376, 21504, 4)
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (32, 16, 128)
    assert (config.vocab_size, config.sliding_window, config.query_pre_attn_scalar) == (262208, 1024, 168)
    assert config.layer_types == ["sliding_attention"] * 4  # the [5, 1] pattern's first four
    assert bench.baseline_model_config(tiny).layer_types == ["sliding_attention"] * 5 + [
        "full_attention",
        "sliding_attention",
    ]
    model, _ = bench.build_baseline(tiny, "cpu")
    assert sum(p.numel() for p in model.parameters()) == memory.total_parameters(tiny)  # same FLOPs on both sides
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config._attn_implementation == "sdpa"


def test_baseline_step_trains_with_accumulation_and_adamw(tiny):
    torch.manual_seed(0)
    model, optimizer = bench.build_baseline(tiny, "cpu")
    before = model.model.layers[0].mlp.down_proj.weight.detach().clone()
    batches = [torch.randint(0, 512, (1, 64)) for _ in range(8)]
    loss = bench.baseline_step(model, optimizer, batches, clip_grad=1.0)
    assert abs(float(loss) - math.log(512)) < 0.5  # a fresh model is close to uniform over the tiny vocabulary
    assert not torch.equal(model.model.layers[0].mlp.down_proj.weight, before)  # the optimizer stepped
    assert all(p.grad is None for p in model.parameters())  # and the gradients were cleared for the next step


def test_baseline_worker_line_parses(tiny, capsys):
    raw = bench.run_baseline(tiny, warmup=1, steps=1, device="cpu")
    bench.emit(raw)
    parsed = bench.parse_worker_output("megatron noise\n" + capsys.readouterr().out + "more noise\n")
    assert parsed["kind"] == "baseline" and parsed["warmup"] == 1 and len(parsed["step_seconds"]) == 2
    assert all(s > 0 for s in parsed["step_seconds"]) and all(math.isfinite(x) for x in parsed["losses"])
    assert parsed["attn_implementation"] == "sdpa" and parsed["max_device_used_gib"] is None  # no GPU here


def test_a_worker_without_a_result_line_is_a_failure():
    with pytest.raises(bench.WorkerFailed, match="no result line"):
        bench.parse_worker_output("Traceback ...\n")


def test_workers_run_in_fresh_processes_the_recipe_under_torchrun():
    args = bench.parse_args(["--precision", "fp8_delayed", "--steps", "7", "--warmup", "2"])
    recipe, baseline = bench.worker_command("recipe", args), bench.worker_command("baseline", args)
    options = ["--precision", "fp8_delayed", "--steps", "7", "--warmup", "2"]
    assert recipe == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "1",
        "-m",
        "bench.train_throughput",
        "--worker",
        "recipe",
        *options,
    ]
    assert baseline == [sys.executable, "-m", "bench.train_throughput", "--worker", "baseline", *options]


def test_refuses_without_a_gpu_before_any_work(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.train_throughput", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == bench.NO_GPU and not out.exists()


def _raw(kind: str, step_s: float, warmup: int = 2, device_gib: float | None = 60.0) -> dict:
    return {
        "kind": kind,
        "warmup": warmup,
        "step_seconds": [9.0] * warmup + [step_s, step_s * 1.1, step_s * 0.9],
        "losses": [12.0, 11.0, 10.5, 10.0, 9.5],
        "max_device_used_gib": device_gib,
        "max_allocated_gib": 50.0,
        "max_reserved_gib": 55.0,
    }


WORKLOAD = bench.Workload(tokens_per_step=8 * 4096, flops_per_token=18_568_705_536, memory_estimate_gib=64.0)
PEAK = {"tflops": 800.0}


def test_assembly_computes_the_step_numbers_and_meets_targets():
    results = bench.assemble(WORKLOAD, PEAK, _raw("recipe", 1.0), _raw("baseline", 1.5))
    recipe = results["recipe"]
    assert recipe["step_s"] == 1.0 and recipe["steps"] == 3  # median of the measured steps, warm-up dropped
    assert recipe["tokens_per_s"] == 32768
    assert recipe["model_tflops_per_gpu"] == pytest.approx(18_568_705_536 * 32768 / 1e12)  # 608.5
    assert recipe["mfu"] == pytest.approx(608.46 / 800, rel=1e-4)
    assert (recipe["first_loss"], recipe["last_loss"]) == (12.0, 9.5)
    assert results["speedup_vs_transformers"] == pytest.approx(1.5)
    assert results["memory"]["relative_error"] == pytest.approx(4 / 60)  # estimate 64 vs measured 60 GiB
    assert all(t["met"] for t in results["targets"].values()) and results["all_targets_met"]


def test_assembly_flags_each_missed_target():
    results = bench.assemble(WORKLOAD, PEAK, _raw("recipe", 1.2, device_gib=75.0), _raw("baseline", 1.5))
    targets = results["targets"]
    assert targets["speedup_vs_transformers"]["value"] == pytest.approx(1.25)
    assert not targets["speedup_vs_transformers"]["met"]  # 1.25x < 1.3x
    assert targets["mfu"]["value"] == pytest.approx(0.634, abs=1e-3) and targets["mfu"]["met"]
    assert targets["memory_estimate_relative_error"]["value"] == pytest.approx(-11 / 75)
    assert not targets["memory_estimate_relative_error"]["met"]  # the estimate is 14.7% under the measured peak
    assert not results["all_targets_met"]
    slow = bench.assemble(WORKLOAD, PEAK, _raw("recipe", 1.5), _raw("baseline", 2.0))
    assert slow["targets"]["mfu"]["value"] == pytest.approx(0.507, abs=1e-3) and not slow["targets"]["mfu"]["met"]


def test_assembly_refuses_a_run_with_only_warmup_steps():
    raw = _raw("recipe", 1.0)
    raw["warmup"] = len(raw["step_seconds"])
    with pytest.raises(bench.BenchError, match="no measured steps"):
        bench.assemble(WORKLOAD, PEAK, raw, _raw("baseline", 1.5))


def test_projection_through_two_depths_by_hand():
    # 4 layers 1.25 s, 8 layers 1.65 s: 0.1 s a layer on top of 0.85 s; 62 layers: 0.85 + 6.2 = 7.05 s
    p = bench.projection({8: 1.65, 4: 1.25})
    assert p["per_layer_s"] == pytest.approx(0.1) and p["fixed_s"] == pytest.approx(0.85)
    assert p["step_s"] == pytest.approx(7.05) and p["layers"] == 62


def _sweep_workloads():
    return {
        d: bench.Workload(tokens_per_step=8 * 4096, flops_per_token=1e10 * d, memory_estimate_gib=60.0) for d in (4, 8)
    }


def test_sweep_assembly_compares_each_variant_at_its_depth_and_projects_62_layers():
    baselines = {4: _raw("baseline", 1.4), 8: _raw("baseline", 2.2)}
    runs = {
        ("bf16", 4): _raw("recipe", 1.25),
        ("bf16-levers", 4): _raw("recipe", 1.0),
        ("fp8_current-all-layers", 4): _raw("recipe", 0.9),
        ("bf16-te-cuda-graphs", 4): "recipe worker failed",
        ("bf16", 8): _raw("recipe", 1.65),
        ("fp8_current-all-layers", 8): _raw("recipe", 1.2),
    }
    results = bench.assemble_sweep(PEAK, _sweep_workloads(), baselines, runs)
    rows = {(r["variant"], r["layers"]): r for r in results["variants"]}
    assert rows[("bf16", 4)]["speedup_vs_transformers"] == pytest.approx(1.4 / 1.25)
    assert rows[("bf16", 8)]["speedup_vs_transformers"] == pytest.approx(2.2 / 1.65)
    assert rows[("bf16-te-cuda-graphs", 4)] == {
        "variant": "bf16-te-cuda-graphs",
        "layers": 4,
        "precision": "bf16",
        "error": "recipe worker failed",
    }
    best = results["best"]
    # bf16-levers at 4 layers: 1.4 / 1.0 = 1.4x beats bf16 at 8 layers (2.2 / 1.65 = 1.33x)
    assert (best["bf16"]["best_variant"], best["bf16"]["best_layers"]) == ("bf16-levers", 4)
    assert best["bf16"]["speedup"] == pytest.approx(1.4) and best["bf16"]["met"]
    # fp8 at 8 layers: 2.2 / 1.2 = 1.83x >= 1.5
    assert best["fp8"]["speedup"] == pytest.approx(2.2 / 1.2) and best["fp8"]["met"]
    bf16 = results["projection_62_layers"]["bf16"]
    # recipe 1.25 + 0.1/layer -> 0.85 + 6.2 = 7.05 s; transformers 1.4 + 0.2/layer -> 0.6 + 12.4 = 13.0 s
    assert bf16["recipe"]["step_s"] == pytest.approx(7.05) and bf16["transformers"]["step_s"] == pytest.approx(13.0)
    assert bf16["speedup_vs_transformers"] == pytest.approx(13.0 / 7.05)
    assert "bf16-levers" not in results["projection_62_layers"]  # measured at one depth only


def test_sweep_targets_are_missed_when_no_variant_reaches_them():
    baselines = {4: _raw("baseline", 1.4), 8: _raw("baseline", 2.2)}
    runs = {("bf16", 4): _raw("recipe", 1.25), ("fp8_current", 4): _raw("recipe", 1.15)}
    best = bench.assemble_sweep(PEAK, _sweep_workloads(), baselines, runs)["best"]
    assert best["bf16"]["speedup"] == pytest.approx(1.12) and not best["bf16"]["met"]
    assert best["fp8"]["speedup"] == pytest.approx(1.4 / 1.15) and not best["fp8"]["met"]


def test_sweep_depths_and_variant_names():
    assert bench.sweep_layers(139.8) == (4, 8) and bench.sweep_layers(79.2) == (2, 4)
    assert bench.variant_config("fp8_current-all-layers", 8) == (
        "fp8_current",
        ["mixed_precision.first_last_layers_bf16=false", "model.num_layers=8"],
    )
    with pytest.raises(bench.BenchError, match=r"--variants: 'fp16' is not one of bf16, "):
        bench.variant_config("fp16", 4)


@pytest.mark.parametrize("variant", list(bench.VARIANTS))
def test_every_variant_composes(variant):
    precision, extra = bench.variant_config(variant, 8)
    cfg = bench.proxy_config(precision, warmup=2, steps=4, extra=extra)
    assert cfg.model.num_layers == 8 and cfg.mixed_precision.name.startswith("bf16")


def test_a_worker_past_its_limit_is_a_failure_naming_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(
        bench, "worker_command", lambda *args, **kwargs: [sys.executable, "-c", "import time; time.sleep(30)"]
    )
    args = bench.parse_args(["--sweep"])
    with pytest.raises(bench.WorkerFailed, match=r"recipe-bf16-4L worker ran past its 1 s limit; log: "):
        bench.run_worker("recipe", args, tmp_path, variant="bf16", layers=4, timeout=1)
    assert (tmp_path / "recipe-bf16-4L.log").exists()


def test_sweep_plan_runs_the_slope_variants_first_at_both_depths():
    plan = bench.sweep_plan(["bf16-levers", "bf16", "fp8_current-all-layers", "fp8_delayed-all-layers"], (4, 8))
    assert plan == [
        ("bf16", 4),
        ("bf16", 8),
        ("fp8_current-all-layers", 4),
        ("fp8_current-all-layers", 8),
        ("bf16-levers", 4),
        ("fp8_delayed-all-layers", 4),
    ]
    assert bench.sweep_plan(["bf16-rope-fusion"], (2, 4)) == [("bf16-rope-fusion", 2)]
