"""Checks over a resolved config that must pass before anything is queued: each failure names the field and the fix.

Rules are pure functions of the typed config (and, for paths and secrets, of the filesystem and environment), so
`python -m recipes.plan` can print them and tests can exercise each one without a cluster. The rules here are the
generic ones (layout, counts, GPUs and memory by engine, paths, secrets); a stage's own rules are its StageSpec's
`checks`, in its module (recipes/stages/<name>.py), and run here with the common ones.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from recipes.core import secret_values
from recipes.core.findings import Check, Finding
from recipes.core.schema import RootConfig
from recipes.stages import specs, stage
from recipes.stages.checks import divisors, missing_path, requested_gpus
from recipes.submit import memory

SECRET_HINTS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY")


@dataclass
class PlanReport:
    stage: str
    gpus: int
    parallelism: memory.Parallelism | None
    memory: memory.MemoryEstimate | None
    tokens_per_step: int
    steps: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


class PreflightError(Exception):
    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("\n".join(f.line() for f in findings))


def _is_training(cfg: RootConfig) -> bool:
    return stage(cfg.stage.name).engine == "megatron_bridge"


def check_tensor_parallel(cfg: RootConfig) -> list[Finding]:
    m = cfg.model
    tp = m.tensor_model_parallel_size
    out = []
    if m.num_attention_heads % tp:
        out.append(
            Finding(
                "model.tensor_model_parallel_size",
                f"TP={tp} does not divide num_attention_heads={m.num_attention_heads}",
                f"use a TP that divides {m.num_attention_heads}: {divisors(m.num_attention_heads)}",
            )
        )
    elif m.num_query_groups % tp:
        out.append(
            Finding(
                "model.tensor_model_parallel_size",
                f"TP={tp} does not divide num_query_groups={m.num_query_groups} (KV groups)",
                f"use a TP that divides {m.num_query_groups}: {divisors(m.num_query_groups)}",
            )
        )
    if m.sequence_parallel and tp == 1:
        out.append(
            Finding(
                "model.sequence_parallel",
                "sequence parallelism needs TP > 1",
                "set model.sequence_parallel=false or raise model.tensor_model_parallel_size",
            )
        )
    return out


def check_pipeline_parallel(cfg: RootConfig) -> list[Finding]:
    m = cfg.model
    pp, vp = m.pipeline_model_parallel_size, m.virtual_pipeline_model_parallel_size
    uneven = m.num_layers_in_first_pipeline_stage is not None or m.num_layers_in_last_pipeline_stage is not None
    if uneven:
        fixed = (m.num_layers_in_first_pipeline_stage or 0) + (m.num_layers_in_last_pipeline_stage or 0)
        middle = (
            pp - (m.num_layers_in_first_pipeline_stage is not None) - (m.num_layers_in_last_pipeline_stage is not None)
        )
        rest = m.num_layers - fixed
        if rest < 0 or (middle == 0 and rest) or (middle and rest % middle):
            return [
                Finding(
                    "model.num_layers_in_first_pipeline_stage",
                    f"the explicit first/last stage sizes leave {rest} of {m.num_layers} layers for "
                    f"{middle} middle stages",
                    "choose sizes whose remainder divides evenly",
                )
            ]
        return []
    if m.num_layers % pp:
        return [
            Finding(
                "model.pipeline_model_parallel_size",
                f"PP={pp} does not divide num_layers={m.num_layers}",
                f"use a PP in {divisors(m.num_layers)} or give an uneven split with "
                "model.num_layers_in_first_pipeline_stage / model.num_layers_in_last_pipeline_stage",
            )
        ]
    if vp and vp > 1 and (m.num_layers // pp) % vp:
        return [
            Finding(
                "model.virtual_pipeline_model_parallel_size",
                f"VP={vp} does not divide the {m.num_layers // pp} layers per pipeline stage",
                f"use a VP in {divisors(m.num_layers // pp)}",
            )
        ]
    if vp and vp > 1 and pp == 1:
        return [
            Finding(
                "model.virtual_pipeline_model_parallel_size",
                "virtual pipelining needs PP > 1",
                "set it to null or raise model.pipeline_model_parallel_size",
            )
        ]
    return []


def check_context_parallel(cfg: RootConfig) -> list[Finding]:
    cp, seq = cfg.model.context_parallel_size, cfg.dataset.sequence_length
    tp = cfg.model.tensor_model_parallel_size
    # Megatron splits each sequence into 2*CP chunks (load-balanced causal attention), each a multiple of TP
    # when sequence parallelism is on.
    unit = 2 * cp * (tp if cfg.model.sequence_parallel else 1) if cp > 1 else 1
    if seq % unit:
        return [
            Finding(
                "dataset.sequence_length",
                f"sequence_length={seq} is not divisible by 2 x CP{' x TP' if unit != 2 * cp else ''} = {unit}",
                f"use a multiple of {unit} or change model.context_parallel_size",
            )
        ]
    comm = cfg.model.cp_comm_type
    if cp > 1 and comm not in ("all_gather", "a2a"):
        return [
            Finding(
                "model.cp_comm_type",
                f"cp_comm_type={comm!r}: Transformer Engine runs Gemma 3's "
                "sliding-window layers with context parallelism only over all_gather or a2a",
                "set model.cp_comm_type=all_gather",
            )
        ]
    heads_per_rank = cfg.model.num_attention_heads // tp
    if cp > 1 and comm == "a2a" and heads_per_rank % cp:
        return [
            Finding(
                "model.cp_comm_type",
                f"a2a splits the {heads_per_rank} attention heads of each TP rank "
                f"over CP{cp}, which does not divide them",
                "set model.cp_comm_type=all_gather",
            )
        ]
    return []


def check_sequence_length(cfg: RootConfig) -> list[Finding]:
    if cfg.dataset.sequence_length > cfg.model.seq_length:
        return [
            Finding(
                "dataset.sequence_length",
                f"{cfg.dataset.sequence_length} exceeds {cfg.model.name}'s context of {cfg.model.seq_length}",
                f"use at most {cfg.model.seq_length}",
            )
        ]
    return []


def check_gpus(cfg: RootConfig) -> list[Finding]:
    m = cfg.model
    gpus = requested_gpus(cfg)
    per_replica = m.tensor_model_parallel_size * m.pipeline_model_parallel_size * m.context_parallel_size
    if gpus == 0:
        return [
            Finding(
                "stage.nodes",
                f"stage {cfg.stage.name} trains but requests no GPUs "
                f"(cluster {cfg.cluster.name} has gpus_per_node={cfg.cluster.gpus_per_node})",
                "run it on a cluster with GPUs (cluster=slurm) or set stage.gpus_per_node",
            )
        ]
    if gpus % per_replica:
        return [
            Finding(
                "stage.nodes",
                f"{gpus} GPUs ({cfg.stage.nodes} nodes) is not a multiple of TP x PP x CP = {per_replica}",
                f"request a multiple of {per_replica} GPUs so that GPUs = TP x PP x CP x DP",
            )
        ]
    return []


def check_batch(cfg: RootConfig) -> list[Finding]:
    gpus = requested_gpus(cfg)
    par = memory.parallelism(cfg, gpus)
    gbs, mbs = cfg.train.global_batch_size, cfg.train.micro_batch_size
    if gbs % (mbs * par.dp):
        return [
            Finding(
                "train.global_batch_size",
                f"global_batch_size={gbs} is not divisible by micro_batch_size x DP = {mbs} x {par.dp}",
                f"use a multiple of {mbs * par.dp}",
            )
        ]
    return []


def _fitting_context_parallel(cfg: RootConfig, budget: float) -> tuple[int, float] | None:
    """For the fix to suggest: the first CP, doubling from this one, that fits the budget on the same GPUs."""
    m, gpus = cfg.model, requested_gpus(cfg)
    cp = m.context_parallel_size * 2
    while m.tensor_model_parallel_size * m.pipeline_model_parallel_size * cp <= gpus:
        trial = replace(cfg, model=replace(m, context_parallel_size=cp))
        if not check_context_parallel(trial) and not check_gpus(trial):
            total = memory.estimate(trial, gpus).total_gib
            if total <= budget:
                return cp, total
        cp *= 2
    return None


def check_memory(cfg: RootConfig) -> list[Finding]:
    budget = cfg.cluster.gpu_memory_gib * (1 - cfg.launch.memory_headroom)
    est = memory.estimate(cfg, requested_gpus(cfg))
    if not cfg.cluster.gpu_memory_gib or est.total_gib <= budget:
        return []
    message = (
        f"estimated {est.total_gib:.1f} GiB per GPU exceeds {budget:.1f} GiB "
        f"({cfg.cluster.gpu_memory_gib:g} GiB less {cfg.launch.memory_headroom:.0%} headroom)"
    )
    per_sequence = est.activations_gib + est.logits_gib
    # Long sequences: activations and logits (which CP divides) outweigh the model state (which TP x PP divides).
    if per_sequence > est.weights_gib + est.grads_gib + est.optimizer_gib:
        fit = _fitting_context_parallel(cfg, budget)
        split = (
            f"model.context_parallel_size={fit[0]} fits ({fit[1]:.1f} GiB on these {requested_gpus(cfg)} GPUs)"
            if fit
            else "raise model.context_parallel_size and stage.nodes with it"
        )
        return [
            Finding(
                "model.context_parallel_size",
                f"{message}; activations and logits of {cfg.dataset.sequence_length}-token sequences are "
                f"{per_sequence:.1f} GiB of it",
                f"split each sequence over more GPUs: {split}; or turn on "
                "more recompute (`python -m recipes.plan` shows the breakdown)",
            )
        ]
    return [
        Finding(
            "model.tensor_model_parallel_size",
            message,
            "raise TP/PP/CP, turn on model.recompute_granularity, or lower micro_batch_size "
            "(`python -m recipes.plan` shows the breakdown)",
        )
    ]


def check_precision(cfg: RootConfig) -> list[Finding]:
    need = cfg.mixed_precision.requires_gpu_arch
    if need and cfg.cluster.gpu_arch != need:
        return [
            Finding(
                "mixed_precision.name",
                f"{cfg.mixed_precision.name} needs {need} GPUs; "
                f"cluster {cfg.cluster.name} has {cfg.cluster.gpu_arch or 'unknown'}",
                "choose precision=bf16, fp8_current or fp8_delayed",
            )
        ]
    return []


def _paths_at(cfg: RootConfig, key: str) -> list[tuple[str, str | None]]:
    """(key, path) of a config key the stage spec names as an input: one path, or a mapping of names to paths."""
    section, name = key.split(".")
    value = getattr(getattr(cfg, section), name)
    if isinstance(value, dict):
        return [(f"{key}.{item}", path) for item, path in value.items()]
    return [(key, value)]


def check_paths(cfg: RootConfig) -> list[Finding]:
    if not cfg.launch.check_paths:
        return []
    paths = {key: value for name in stage(cfg.stage.name).input_paths for key, value in _paths_at(cfg, name)}
    paths["run.input"] = cfg.run.input if cfg.run.input and os.sep in cfg.run.input else None
    out = [
        missing_path(cfg, key, value, f"{value} does not exist", f"create it first or point {key} elsewhere")
        for key, value in paths.items()
        if value and not os.path.exists(value)
    ]
    return [f for f in out if f]


def check_secrets(cfg: RootConfig) -> list[Finding]:
    """Secrets by key name in cluster.env, and values that look like credentials anywhere in the config (the
    value itself is never repeated in the finding)."""
    out = []
    for key in cfg.cluster.env:
        if key in cfg.cluster.secrets or any(h in key.upper() for h in SECRET_HINTS):
            out.append(
                Finding(
                    f"cluster.env.{key}",
                    "looks like a secret, and cluster.env is written into the rendered sbatch script",
                    f"remove it from cluster.env and add {key} to "
                    "cluster.secrets: it is then passed by name from the submitting environment",
                )
            )
    named = {f.field for f in out}
    for key, kind in secret_values.find(asdict(cfg)):
        if key not in named:
            variable = key.removeprefix("cluster.env.") if key.startswith("cluster.env.") else "a variable"
            out.append(
                Finding(
                    key,
                    f"holds what looks like a credential ({kind}), and the config is written to "
                    "resolved.yaml, manifest.json and the launch scripts",
                    f"remove the value; export it as {variable} where you launch and list that name in cluster.secrets",
                )
            )
    return out


_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_run_name(cfg: RootConfig) -> list[Finding]:
    """The run directory is <launch.root>/<run.name>/<stage> and the version ids <run.name>-<stage>-<semver>: a
    plain name, which cannot leave launch.root."""
    name = cfg.run.name
    if _RUN_NAME.match(name) and name not in (".", ".."):
        return []
    where = (Path(cfg.launch.root) / name).resolve()
    leaves = not where.is_relative_to(Path(cfg.launch.root).resolve())
    return [
        Finding(
            "run.name",
            f"{name!r} "
            + (f"would put the run directory outside launch.root ({where})" if leaves else "is not a plain name"),
            "use letters, digits, '.', '_' or '-' (it names "
            "<launch.root>/<run.name> and the version ids), e.g. run.name=sealion_v4_ablation1",
        )
    ]


#: Counts a run cannot have zero or fewer of, whichever stage reads them.
COUNTS = (
    "stage.nodes",
    "model.tensor_model_parallel_size",
    "model.pipeline_model_parallel_size",
    "model.context_parallel_size",
    "train.train_iters",
    "train.global_batch_size",
    "train.micro_batch_size",
    "train.eval_interval",
    "dataset.sequence_length",
    "checkpoint.save_interval",
    "logger.log_interval",
    "data.budget_tokens",
    "data_prep.workers",
    "data_prep.shard_bytes",
    "eval.n_per_language",
    "eval.perplexity_max_length",
    "rl.prompts_per_step",
    "rl.generations_per_prompt",
    "rl.max_steps",
    "rl.max_total_sequence_length",
    "rl.train_global_batch_size",
    "rl.train_micro_batch_size",
    "rl.generation_tensor_parallel_size",
    "apo.max_steps",
    "apo.global_batch_size",
    "apo.micro_batch_size",
    "apo.max_total_sequence_length",
    "clair.batch_size",
    "clair.policy_max_tokens",
    "clair.reviser_max_tokens",
)


def check_counts(cfg: RootConfig) -> list[Finding]:
    out = []
    for key in COUNTS:
        section, name = key.split(".")
        if not hasattr(cfg, section):  # another stage's section: not in this stage's config
            continue
        value = getattr(getattr(cfg, section), name)
        if value is not None and value < 1:
            out.append(Finding(key, f"{value} is not a count", f"use a positive whole number ({key}=1 or more)"))
    return out


# Slurm's --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+(?::\d+){0,2})$")


def _slurm_time_ok(value: str) -> bool:
    match = _SLURM_TIME.match(value.strip())
    if not match:
        return False
    parts = [int(p) for p in match.group(2).split(":")]
    if match.group(1) is not None:  # D-HH[:MM[:SS]]
        return parts[0] < 24 and all(p < 60 for p in parts[1:])
    return len(parts) == 1 or all(p < 60 for p in parts[1:])  # minutes, MM:SS or HH:MM:SS


def check_values(cfg: RootConfig) -> list[Finding]:
    """Values the schema's types accept that no run can use."""
    out: list[Finding] = []
    if hasattr(cfg, "optimizer"):  # the training stages' section
        o = cfg.optimizer
        if not o.lr > 0:
            out.append(
                Finding(
                    "optimizer.lr",
                    f"{o.lr} is not a learning rate (it must be above 0)",
                    "set optimizer.lr to a small positive number, e.g. optimizer.lr=1e-5",
                )
            )
        elif not 0 <= o.min_lr <= o.lr:
            out.append(
                Finding(
                    "optimizer.min_lr",
                    f"{o.min_lr} is not in [0, optimizer.lr={o.lr}]",
                    f"set optimizer.min_lr between 0 and {o.lr}, e.g. a tenth of it",
                )
            )
    if not _slurm_time_ok(cfg.stage.time):
        out.append(
            Finding(
                "stage.time",
                f"{cfg.stage.time!r} is not a Slurm time limit (minutes and seconds run to 59)",
                "write HH:MM:SS or D-HH:MM:SS, e.g. stage.time=04:00:00 or stage.time=2-00:00:00",
            )
        )
    return out


def check_launch_root(cfg: RootConfig) -> list[Finding]:
    """launch.root is a directory (or can become one): run directories and the registry go under it."""
    root = Path(cfg.launch.root)
    blocker = next((p for p in (root, *root.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return [
            Finding(
                "launch.root",
                f"{blocker} is a file, not a directory",
                "point launch.root at a directory "
                "(run directories go to <launch.root>/<run.name>/<stage>), e.g. launch.root=$HOME/runs",
            )
        ]
    return []


#: ModelConfig field -> the Hugging Face config.json key that holds the same number.
_HF_ARCHITECTURE = {
    "num_layers": "num_hidden_layers",
    "hidden_size": "hidden_size",
    "ffn_hidden_size": "intermediate_size",
    "num_attention_heads": "num_attention_heads",
    "num_query_groups": "num_key_value_heads",
    "kv_channels": "head_dim",
}


def check_architecture(cfg: RootConfig) -> list[Finding]:
    """The model config (model=...) describes the checkpoint it loads: a local checkpoint's config.json (its
    text_config for a multimodal one) must agree, or Megatron builds one architecture over another's weights."""
    checkpoint = cfg.model.hf_text_checkpoint or cfg.model.hf_id
    config_json = Path(checkpoint) / "config.json"
    if not cfg.launch.check_paths or not config_json.is_file():
        return []
    try:
        hf = json.loads(config_json.read_text())
    except (OSError, ValueError) as err:
        return [Finding("model.hf_id", f"{config_json} does not read ({err})", "restore the checkpoint's config.json")]
    hf = hf.get("text_config", hf)
    differ = [
        f"{key}={getattr(cfg.model, key)} but {hf_key}={hf[hf_key]}"
        for key, hf_key in _HF_ARCHITECTURE.items()
        if hf_key in hf and hf[hf_key] != getattr(cfg.model, key)
    ]
    if not differ:
        return []
    return [
        Finding(
            "model",
            f"model={cfg.model.name} does not describe the checkpoint it loads, {checkpoint} "
            f"({config_json}: {'; '.join(differ)})",
            "choose the model config of that checkpoint (model=...) or point model.hf_id at a checkpoint of this size",
        )
    ]


def check_registry(cfg: RootConfig) -> list[Finding]:
    """The run's registry (<launch.root>/registry) reads, before any work that would register into it."""
    from recipes.artifacts.versions import INDEX_FILE, CorruptRecord, Registry

    root = Path(cfg.launch.root) / "registry"
    if not (root / INDEX_FILE).is_file():
        return []
    try:
        Registry(root, create=False)._index()
    except (CorruptRecord, OSError) as err:
        return [
            Finding(
                "launch.root",
                f"the version registry does not read: {err}",
                f"python -m recipes.versions --root {root} repair",
            )
        ]
    return []


#: Training rules in tiers: a tier runs only when the tiers before it passed, so one mistake (a TP that does not
#: divide the heads) is reported once, not again as each consequence (GPUs not a multiple of TP x PP x CP).
TRAINING_TIERS: list[list[Check]] = [
    [check_tensor_parallel, check_pipeline_parallel, check_context_parallel, check_sequence_length, check_precision],
    [check_gpus],
    [check_batch, check_memory],
]


def check_ray_on_slurm(cfg: RootConfig) -> list[Finding]:
    """NeMo-Run's Ray-on-Slurm template writes `-A=<account> -p=<partition>` into every srun, unset ones as "None"."""
    if cfg.cluster.executor != "slurm":
        return []
    return [
        Finding(
            f"cluster.{key}",
            f"unset, and the Ray-on-Slurm job of stage {cfg.stage.name} passes it to "
            "every srun (an unset one becomes 'None')",
            f"set cluster.{key} (or ${env} for the presets)",
        )
        for key, env in (("account", "SLURM_ACCOUNT"), ("partition", "SLURM_PARTITION"))
        if getattr(cfg.cluster, key) is None
    ]


def check_array(cfg: RootConfig) -> list[Finding]:
    if cfg.stage.array and not stage(cfg.stage.name).array:
        arrays = [spec.name for spec in specs() if spec.array]
        return [
            Finding(
                "stage.array",
                f"stage {cfg.stage.name} does not split its work across array tasks: every task would do all of it",
                f"set stage.array=null (arrays: {', '.join(arrays)})",
            )
        ]
    return []


#: Rules by engine, in tiers: a tier runs only when the tiers before it passed.
ENGINE_TIERS: dict[str, list[list[Check]]] = {
    "megatron_bridge": TRAINING_TIERS,
    # NeMo-RL shards the model over the stage's GPUs and runs in NeMo-Run's Ray-on-Slurm template.
    "nemo_rl": [[check_tensor_parallel, check_gpus, check_ray_on_slurm]],
}
COMMON_RULES: list[Check] = [check_paths, check_secrets, check_array, check_values, check_architecture, check_registry]


def plan(cfg: RootConfig) -> PlanReport:
    """Every finding, plus the numbers `recipes.plan` prints. A bad run name or a count below one is reported
    alone: the other rules divide by the counts."""
    findings: list[Finding] = check_run_name(cfg) + check_counts(cfg) + check_launch_root(cfg)
    par = est = None
    gpus = requested_gpus(cfg)
    if findings:
        return PlanReport(
            stage=cfg.stage.name,
            gpus=gpus,
            parallelism=None,
            memory=None,
            tokens_per_step=0,
            steps=0,
            findings=findings,
        )
    spec = stage(cfg.stage.name)
    for tier in ENGINE_TIERS.get(spec.engine, []):
        findings += [finding for rule in tier for finding in rule(cfg)]
        if findings:
            break
    else:
        if _is_training(cfg):
            par, est = memory.parallelism(cfg, gpus), memory.estimate(cfg, gpus)
    for rule in [*spec.checks, *COMMON_RULES]:
        findings += rule(cfg)
    tokens = cfg.train.global_batch_size * cfg.dataset.sequence_length if _is_training(cfg) else 0
    return PlanReport(
        stage=cfg.stage.name,
        gpus=gpus,
        parallelism=par,
        memory=est,
        tokens_per_step=tokens,
        steps=cfg.train.train_iters if _is_training(cfg) else 0,
        findings=findings,
    )


def run(cfg: RootConfig) -> PlanReport:
    """`plan`, raising PreflightError when any rule fails."""
    report = plan(cfg)
    if report.errors:
        raise PreflightError(report.errors)
    return report
