"""Checks over a resolved config that must pass before anything is queued: each failure names the field and the fix.

Rules are pure functions of the typed config (and, for paths and secrets, of the filesystem and environment), so
`python -m recipes.plan` can print them and tests can exercise each one without a cluster.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from evals.seahelm import JUDGE_MODEL_TYPES, is_local_path, missing_weights
from recipes.core import secret_values
from recipes.core.config import gpus_per_node
from recipes.core.languages import LANGID_POLICIES
from recipes.core.schema import RootConfig
from recipes.core.stage_specs import SPECS, stage_spec
from recipes.engines.nemo_rl_config import RL_ENVIRONMENTS, unknown_rl_environments
from recipes.submit import memory

SECRET_HINTS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY")


@dataclass(frozen=True)
class Finding:
    field: str
    message: str
    fix: str
    severity: str = "error"  # error | warning

    def line(self) -> str:
        return f"{self.field}: {self.message}; fix: {self.fix}"


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


def requested_gpus(cfg: RootConfig) -> int:
    return cfg.stage.nodes * gpus_per_node(cfg)


def _is_training(cfg: RootConfig) -> bool:
    return stage_spec(cfg.stage.name).engine == "megatron_bridge"


def check_tensor_parallel(cfg: RootConfig) -> list[Finding]:
    m = cfg.model
    tp = m.tensor_model_parallel_size
    out = []
    if m.num_attention_heads % tp:
        out.append(
            Finding(
                "model.tensor_model_parallel_size",
                f"TP={tp} does not divide num_attention_heads={m.num_attention_heads}",
                f"use a TP that divides {m.num_attention_heads}: {_divisors(m.num_attention_heads)}",
            )
        )
    elif m.num_query_groups % tp:
        out.append(
            Finding(
                "model.tensor_model_parallel_size",
                f"TP={tp} does not divide num_query_groups={m.num_query_groups} (KV groups)",
                f"use a TP that divides {m.num_query_groups}: {_divisors(m.num_query_groups)}",
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
                f"use a PP in {_divisors(m.num_layers)} or give an uneven split with "
                "model.num_layers_in_first_pipeline_stage / model.num_layers_in_last_pipeline_stage",
            )
        ]
    if vp and vp > 1 and (m.num_layers // pp) % vp:
        return [
            Finding(
                "model.virtual_pipeline_model_parallel_size",
                f"VP={vp} does not divide the {m.num_layers // pp} layers per pipeline stage",
                f"use a VP in {_divisors(m.num_layers // pp)}",
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


def _made_by_an_earlier_stage(cfg: RootConfig, path: str) -> bool:
    """Inside the run directory of a stage that comes before this one in pipeline.stages."""
    stages = list(cfg.pipeline.stages)
    if cfg.stage.name not in stages:
        return False
    run_root = Path(cfg.launch.root).resolve() / cfg.run.name
    return any(
        Path(path).resolve().is_relative_to(run_root / stage) for stage in stages[: stages.index(cfg.stage.name)]
    )


def _missing_path(cfg: RootConfig, key: str, value: str, what: str, fix: str) -> Finding | None:
    """A missing input is an error, dry run included, unless an earlier stage of this pipeline makes it: then it is
    accepted inside a pipeline launch (run.upstream set) and a warning in a dry run of the stage alone."""
    if _made_by_an_earlier_stage(cfg, value):
        if cfg.run.upstream is not None:
            return None
        if cfg.launch.dryrun:
            return Finding(key, f"{what}; an earlier stage of pipeline.stages makes it", fix, "warning")
    return Finding(key, what, fix)


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
    paths = {key: value for name in stage_spec(cfg.stage.name).input_paths for key, value in _paths_at(cfg, name)}
    paths["run.input"] = cfg.run.input if cfg.run.input and os.sep in cfg.run.input else None
    out = [
        _missing_path(cfg, key, value, f"{value} does not exist", f"create it first or point {key} elsewhere")
        for key, value in paths.items()
        if value and not os.path.exists(value)
    ]
    if cfg.stage.name == "data_prep":
        for i, source in enumerate(cfg.data.sources):
            if not glob.glob(str(source.get("path", ""))):
                out.append(
                    _missing_path(
                        cfg,
                        f"data.sources[{i}].path",
                        str(source.get("path")),
                        f"no file matches {source.get('path')}",
                        "fix the path or set launch.check_paths=false if it exists only on the cluster",
                    )
                )
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


def check_datamix_rows(cfg: RootConfig) -> list[Finding]:
    """data_prep: every datamix row has a language that data.sources declare, when every source declares its
    language (otherwise the records name it, known only once they are read)."""
    from data_prep import datamix

    if not os.path.isfile(cfg.data.datamix):
        return []
    declared = [s.get("lang") for s in cfg.data.sources]
    if not declared or not all(isinstance(lang, str) and lang for lang in declared):
        return []
    try:
        mix = datamix.load(cfg.data.datamix)
    except (ValueError, TypeError, OSError) as err:
        return [Finding("data.datamix", str(err), "fix the datamix file")]
    empty = [r.key for r in mix.rows if not set(r.languages) & set(declared)]
    if not empty:
        return []
    severity = "warning" if cfg.data_prep.drop_missing else "error"
    return [
        Finding(
            "data.sources",
            f"datamix rows {empty} have no source: data.sources declare only languages {sorted(set(declared))}",
            "add the sources of those languages to data.sources, or set data_prep.drop_missing=true to drop those rows",
            severity,
        )
    ]


Rule = Callable[[RootConfig], list[Finding]]
#: Training rules in tiers: a tier runs only when the tiers before it passed, so one mistake (a TP that does not
#: divide the heads) is reported once, not again as each consequence (GPUs not a multiple of TP x PP x CP).
TRAINING_TIERS: list[list[Rule]] = [
    [check_tensor_parallel, check_pipeline_parallel, check_context_parallel, check_sequence_length, check_precision],
    [check_gpus],
    [check_batch, check_memory],
]


def check_rl(cfg: RootConfig) -> list[Finding]:
    """NeMo-RL's GRPO trains on every rollout of a step: prompts x generations must fill the global batch, and
    a group of one has no baseline."""
    rl, out = cfg.rl, []
    if rl.algorithm not in ("dr_grpo", "grpo"):
        out.append(Finding("rl.algorithm", f"unknown algorithm {rl.algorithm!r}", "use dr_grpo or grpo"))
    if rl.generations_per_prompt < 2:
        out.append(
            Finding(
                "rl.generations_per_prompt",
                "a group of one answer has no baseline (advantage 0)",
                "sample at least 2 answers per prompt (the card's regime: 16)",
            )
        )
    rollouts = rl.prompts_per_step * rl.generations_per_prompt
    if rollouts != rl.train_global_batch_size:
        out.append(
            Finding(
                "rl.train_global_batch_size",
                f"{rl.train_global_batch_size} != prompts_per_step x generations_per_prompt = {rollouts}",
                f"set rl.train_global_batch_size={rollouts}",
            )
        )
    gpus = requested_gpus(cfg)
    tp = rl.generation_tensor_parallel_size
    if gpus and (gpus % tp or cfg.model.num_attention_heads % tp):
        out.append(
            Finding(
                "rl.generation_tensor_parallel_size",
                f"vLLM TP={tp} must divide the {gpus} GPUs and the {cfg.model.num_attention_heads} heads",
                f"use one of {[d for d in _divisors(cfg.model.num_attention_heads) if gpus % d == 0]}",
            )
        )
    for i in unknown_rl_environments(rl.datasets):
        out.append(
            Finding(
                f"rl.datasets[{i}].env",
                f"{rl.datasets[i].get('env')!r} is not a reward environment",
                f"use one of {sorted(RL_ENVIRONMENTS)}",
            )
        )
    if rl.backend not in ("dtensor", "megatron"):
        out.append(Finding("rl.backend", f"unknown backend {rl.backend!r}", "use dtensor or megatron"))
    elif rl.backend == "dtensor" and cfg.model.pipeline_model_parallel_size > 1:
        out.append(
            Finding(
                "model.pipeline_model_parallel_size",
                "NeMo-RL's DTensor backend has no pipeline parallelism",
                "set model.pipeline_model_parallel_size=1 or rl.backend=megatron",
            )
        )
    if not rl.datasets:
        out.append(
            Finding(
                "rl.datasets",
                "empty: the job would have no prompts to train on",
                "list {name, path, env} entries, each a JSONL written by `python -m data_prep.rl_data "
                "<deepmath|nemotron_if> <hf_id or files> <path>` (sealion_v4_27b_rl lists the card's two)",
            )
        )
    else:
        out += _held_out_leaves_a_step(
            "rl.val_prompts", rl.val_prompts, [d.get("path") for d in rl.datasets], rl.prompts_per_step, "prompts"
        )
    return out


def _held_out_leaves_a_step(key: str, held_out: int, paths: list, per_step: int, what: str) -> list[Finding]:
    """The job holds `held_out` rows of `paths` out for validation (recipes.posttrain.holdout): where the files
    are already there, at least one step's rows must remain (the job would stop on it after the queue wait)."""
    if not all(path and os.path.isfile(path) for path in paths):
        return []  # check_paths names a missing file
    rows = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows += sum(1 for line in f if line.strip())
    if rows - held_out >= per_step:
        return []
    return [
        Finding(
            key,
            f"{held_out} of the {rows} {what} held out for validation leave {rows - held_out}, "
            f"fewer than one step's {per_step}",
            f"lower {key} or add {what}",
        )
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


def check_apo(cfg: RootConfig) -> list[Finding]:
    apo = cfg.apo
    if apo.loss not in ("apo_zero", "apo_down", "sigmoid"):
        return [Finding("apo.loss", f"unknown loss {apo.loss!r}", "use apo_zero, apo_down or sigmoid")]
    if apo.pairs is None:
        return []  # the upstream clair stage's pairs.jsonl, written by the job before this one
    return _held_out_leaves_a_step("apo.val_pairs", apo.val_pairs, [apo.pairs], apo.global_batch_size, "pairs")


def check_data_prep(cfg: RootConfig) -> list[Finding]:
    d, out = cfg.data_prep, []
    if d.on_language_disagreement not in LANGID_POLICIES:
        out.append(
            Finding(
                "data_prep.on_language_disagreement",
                f"unknown policy {d.on_language_disagreement!r}",
                f"use one of {list(LANGID_POLICIES)}",
            )
        )
    if not 0 < d.dedup_threshold <= 1:
        out.append(
            Finding(
                "data_prep.dedup_threshold",
                f"{d.dedup_threshold} is not a Jaccard similarity",
                "use a value in (0, 1], e.g. 0.7",
            )
        )
    return out


def check_merge(cfg: RootConfig) -> list[Finding]:
    from recipes.engines.mergekit_merge import unfilled

    def override(key: str) -> str:  # models[1].path -> models.1.path, as Hydra takes it
        return key.replace("[", ".").replace("]", "")

    return [
        Finding(
            f"merge.{key}",
            f"still the preset's placeholder {value!r}",
            f"set merge.{override(key)}=<model path or version id>",
        )
        for key, value in unfilled(cfg.merge).items()
    ]


def check_tokenizer(cfg: RootConfig) -> list[Finding]:
    """data.tokenizer loads here, where it is a local directory (a hub id is fetched where the job runs); on an
    install without the `tokenizers` package (the launcher's alone) only its existence is checked."""
    from data_prep.tokenize import looks_like_path, tokenizer_problem

    name = cfg.data.tokenizer
    if cfg.launch.check_paths and not looks_like_path(name) and _offline(cfg) and cfg.cluster.executor == "local":
        problem = tokenizer_problem(name)  # a hub id offline: it loads only from this machine's cache
        return (
            [
                Finding(
                    "data.tokenizer",
                    f"the hub tokenizer {name} is not in this machine's Hugging Face cache and "
                    f"HF_HUB_OFFLINE is set ({problem})",
                    'fetch it once online (python -c "from transformers '
                    f"import AutoTokenizer; AutoTokenizer.from_pretrained('{name}')\") or point data.tokenizer at "
                    "a directory holding tokenizer.json",
                )
            ]
            if problem
            else []
        )
    if not cfg.launch.check_paths or not looks_like_path(name):
        return []
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        problem = None if os.path.isdir(name) else "no such directory"
    else:
        problem = tokenizer_problem(name)
    severity = "warning" if cfg.launch.dryrun else "error"
    return (
        [
            Finding(
                "data.tokenizer",
                f"{name} does not load ({problem})",
                "point it at a directory holding tokenizer.json (or a hub id), or set launch.check_paths=false "
                "if it exists only on the cluster",
                severity,
            )
        ]
        if problem
        else []
    )


def _offline(cfg: RootConfig) -> bool:
    """The job runs with the Hugging Face hub switched off (cluster.env or this environment)."""
    env = {**os.environ, **cfg.cluster.env}
    return any(env.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


# The eval stage: the model it evaluates and the judge SEA-HELM needs, checked before any GPU time is spent.
def _is_registered(cfg: RootConfig, ref: str) -> bool:
    from recipes.artifacts.versions import run_registry

    try:
        run_registry(cfg).get(ref)
        return True
    except KeyError:
        return False


def check_eval(cfg: RootConfig) -> list[Finding]:
    out, model = [], cfg.eval.model
    # A dry run renders what would run: what is not there yet is reported, not fatal.
    severity = "warning" if cfg.launch.dryrun or not cfg.launch.check_paths else "error"
    if (
        cfg.launch.check_paths
        and model
        and is_local_path(model)
        and not os.path.exists(model)
        and not _is_registered(cfg, model)
    ):  # missing, unless an earlier stage writes it (sft's hf/ export)
        out.append(
            _missing_path(
                cfg,
                "eval.model",
                model,
                f"{model!r} is no existing path, registered version or hub id (org/name)",
                "point eval.model at a model folder, a version in the registry, or a hub id",
            )
        )
    if "seahelm" not in cfg.eval.suites:
        return [f for f in out if f]
    from evals.seahelm import seeds

    settings = cfg.eval.seahelm
    judge = settings.judge
    if judge.model_type not in JUDGE_MODEL_TYPES:
        out.append(
            Finding(
                "eval.seahelm.judge.model_type",
                f"unknown judge type {judge.model_type!r}",
                f"use one of {list(JUDGE_MODEL_TYPES)} (vllm: served on the node, as SEA-HELM does)",
            )
        )
    elif judge.model_type == "litellm":
        if not judge.base_url:
            out.append(
                Finding(
                    "eval.seahelm.judge.base_url",
                    "unset for an endpoint (litellm) judge",
                    "set it to the OpenAI-compatible endpoint, e.g. http://judge:8000/v1",
                )
            )
        key = judge.api_key_env
        if key and key not in cfg.cluster.secrets:
            out.append(
                Finding(
                    "eval.seahelm.judge.api_key_env",
                    f"{key} is not in cluster.secrets, so the job never receives the judge's key",
                    f"add {key} to cluster.secrets",
                )
            )
        elif key and key not in os.environ:
            out.append(
                Finding(
                    "eval.seahelm.judge.api_key_env",
                    f"{key} is unset in this environment",
                    f"export {key} before launching",
                    severity,
                )
            )
    try:
        seeds(settings)
    except ValueError as err:
        out.append(
            Finding(
                "eval.seahelm.runs",
                str(err),
                "keep eval.seahelm.runs within 0..7 (SEA-HELM's 8 seeds) or list a seed per run in eval.seahelm.seeds",
            )
        )
    if settings.hf_home:
        from evals.seahelm import missing_datasets

        hub_model = model if model and not is_local_path(model) and not _is_registered(cfg, model) else None
        staged = os.path.isdir(settings.hf_home)
        missing = (missing_weights(settings, hub_model) + missing_datasets(settings)) if staged else ["all"]
        if missing:
            out.append(
                Finding(
                    "eval.seahelm.hf_home",
                    f"{settings.hf_home} lacks {', '.join(missing)} (the runs "
                    "are offline: weights and the task set's datasets must be staged)",
                    f"run `python -m evals.seahelm stage-weights {settings.hf_home}"
                    + (f" --model {hub_model}" if hub_model else "")
                    + " --seahelm-dir <SEA-HELM checkout "
                    f"at {settings.commit[:7]}>` on a node with network, or set "
                    "eval.seahelm.hf_home=null",
                    severity,
                )
            )
    return [f for f in out if f]


def _pool_rows(path: str) -> int:
    """Rows of a candidate pool: Parquet metadata, else non-blank JSONL lines."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def feature_bytes(cfg: RootConfig, candidates: int) -> int:
    """LESS's candidate feature storage: candidates x projection dimension x checkpoints x float32."""
    from recipes.posttrain.prompt_selection.settings import FEATURE_BYTES

    return candidates * cfg.select.proj_dim * cfg.select.checkpoints * FEATURE_BYTES


def check_select(cfg: RootConfig) -> list[Finding]:
    """The pool and targets are set and readable row by row (ids, languages, texts; rows over select.max_tokens
    counted), the smoke preset's sample target does not stand beside the user's, and the pool's gradient features
    fit the run directory's free space."""
    from recipes.core.config import REPO_ROOT
    from recipes.posttrain.prompt_selection.inputs import check_inputs
    from recipes.posttrain.prompt_selection.projection import NONZEROS

    s = cfg.select
    if not s.candidates:
        return [
            Finding(
                "select.candidates",
                "no candidate pool",
                "set select.candidates=<JSONL/Parquet of {id, prompt or messages, lang}>",
            )
        ]
    if not s.targets:
        return [Finding("select.targets", "no target set", "add one: +select.targets.<name>=<JSONL of target prompts>")]
    out = []
    sample = (REPO_ROOT / "data_prep" / "sample_select").resolve()
    samples = [name for name, path in s.targets.items() if Path(path).resolve().parent == sample]
    if samples and len(samples) < len(s.targets):
        out += [
            Finding(
                f"select.targets.{name}",
                "the preset's sample target is still set beside yours (Hydra adds "
                "+select.targets.<name> to the preset's targets): its picks would go into selected.jsonl",
                f"drop it: ~select.targets.{name}",
            )
            for name in samples
        ]
    if s.candidate_gradient not in ("adam", "sgd"):
        out.append(
            Finding(
                "select.candidate_gradient",
                f"unknown gradient {s.candidate_gradient!r}",
                "set select.candidate_gradient=adam (LESS) or sgd",
            )
        )
    out += [
        Finding(f"select.{name}", f"{value} is not in (0, 1]", f"set select.{name} to a share, e.g. 0.05")
        for name, value in (("select_fraction", s.select_fraction), ("warmup_fraction", s.warmup_fraction))
        if not 0 < value <= 1
    ]
    out += [
        Finding(f"select.{name}", f"{value} is below 1", f"set select.{name} to a positive count")
        for name in ("proj_dim", "checkpoints", "max_tokens", "lora_r", "batch_size", "shard_size")
        if (value := getattr(s, name)) < 1
    ]
    if s.proj_dim >= 1 and s.proj_dim % NONZEROS:
        out.append(
            Finding(
                "select.proj_dim",
                f"{s.proj_dim} is not a multiple of {NONZEROS} (the sparse projection's chunks)",
                "set select.proj_dim to e.g. 8192 (LESS) or 256",
            )
        )
    if s.max_grad_norm < 0:
        out.append(
            Finding("select.max_grad_norm", f"{s.max_grad_norm} is negative", "set 1.0 (LESS) or 0 (no clipping)")
        )
    gpu_gib = cfg.cluster.gpu_memory_gib
    weights_gib = memory.total_parameters(cfg) * 4 / 2**30  # prompt_selection/model.py loads float32
    if gpu_gib and not s.model and weights_gib > gpu_gib:
        out.append(
            Finding(
                "select.model",
                f"select would hold {cfg.model.name}'s weights in float32 "
                f"({weights_gib:.0f} GiB) on one {gpu_gib:.0f} GiB GPU",
                "select with a smaller model of "
                "the family (LESS transfers a small model's selection to larger ones): "
                "select.model=google/gemma-3-4b-it",
            )
        )
    if out:
        return out
    files = {"select.candidates": s.candidates, **{f"select.targets.{name}": path for name, path in s.targets.items()}}
    out = [
        Finding(p.field, p.message, p.fix, p.severity)
        for p in check_inputs(files, s.max_tokens, s.model or cfg.run.input or cfg.model.hf_id)
    ]
    if not os.path.isfile(s.candidates) or any(f.severity == "error" for f in out):
        return out  # check_paths names a missing pool
    need = feature_bytes(cfg, _pool_rows(s.candidates))
    where = Path(cfg.launch.root).resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if need > free:
        out.append(
            Finding(
                "select.proj_dim",
                f"the candidate features need {need / 2**30:.1f} GiB (candidates x "
                f"{s.proj_dim} dims x {s.checkpoints} checkpoints x 4 bytes) but {where} has "
                f"{free / 2**30:.1f} GiB free",
                "lower select.proj_dim, split select.candidates, or point launch.root at a larger file system",
            )
        )
    return out


ARRAY_STAGES = tuple(name for name, spec in SPECS.items() if spec.array)


def check_array(cfg: RootConfig) -> list[Finding]:
    if cfg.stage.array and cfg.stage.name not in ARRAY_STAGES:
        return [
            Finding(
                "stage.array",
                f"stage {cfg.stage.name} does not split its work across array tasks: every task would do all of it",
                f"set stage.array=null (arrays: {', '.join(ARRAY_STAGES)})",
            )
        ]
    return []


STAGE_RULES: dict[str, list[Rule]] = {
    "data_prep": [check_data_prep, check_tokenizer, check_datamix_rows],
    "merge": [check_merge],
    "select": [check_select],
    "rl": [check_tensor_parallel, check_gpus, check_rl, check_ray_on_slurm],
    "apo": [check_tensor_parallel, check_gpus, check_apo, check_ray_on_slurm],
    "eval": [check_eval],
}
COMMON_RULES: list[Rule] = [check_paths, check_secrets, check_array, check_values, check_architecture, check_registry]


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
    if _is_training(cfg):
        for tier in TRAINING_TIERS:
            findings += [finding for rule in tier for finding in rule(cfg)]
            if findings:
                break
        else:
            par, est = memory.parallelism(cfg, gpus), memory.estimate(cfg, gpus)
    for rule in STAGE_RULES.get(cfg.stage.name, []) + COMMON_RULES:
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


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
