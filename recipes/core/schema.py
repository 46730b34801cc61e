"""The typed schema of the whole config tree: every key the YAML in `conf/` may set, with its type.

Composition merges the YAML onto these dataclasses, so an unknown key or a wrong type fails before anything runs.
Training sections are named after Megatron-Bridge's ConfigContainer (model, train, optimizer, scheduler, dataset,
checkpoint, logger, mixed_precision) and their fields after the fields of those classes, so the training stages
map a resolved config onto a ConfigContainer without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import MISSING

# The pinned SEA-HELM commit the eval image checks out (containers/versions.env says the same).
SEAHELM_COMMIT = "6844e6c5cae439a413281df31271d388fcbad12f"
SEAHELM_SEEDS = (25008113, 42008474, 15226423, 28126671, 19128282, 39305000, 17765035, 23194592)


@dataclass
class LmEvalSettings:
    backend: str = "vllm"  # "vllm" on the cluster, "hf" for local runs
    tasks: list[str] = field(default_factory=lambda: ["leaderboard"])
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    dtype: str = "bfloat16"
    gpu_memory_utilization: float = 0.85
    max_model_len: int | None = 8192
    batch_size: str = "auto"
    apply_chat_template: bool = True
    fewshot_as_multiturn: bool = True
    limit: int | None = None
    seed: int = 1234
    log_samples: bool = True


@dataclass
class JudgeSettings:
    """The LLM judge of SEA-HELM's judged tasks. `vllm` (SEA-HELM's own choice): `model_name` is served on the
    node, a hub id (staged into `SeaHelmSettings.hf_home`) or a local path. `litellm`: an OpenAI-compatible
    endpoint at `base_url`, its key read from the variable `api_key_env` (list it in cluster.secrets)."""

    model_name: str = "openai/gpt-oss-120b"
    model_type: str = "vllm"
    base_url: str | None = None
    api_key_env: str | None = None


@dataclass
class SeaHelmSettings:
    repo_dir: str = "/opt/SEA-HELM"
    commit: str = SEAHELM_COMMIT
    tasks: list[str] = field(default_factory=lambda: ["seahelm"])
    skip_tasks: list[str] = field(default_factory=list)
    model_type: str = "vllm"
    tensor_parallel_size: int = 1
    model_args: dict[str, str] = field(default_factory=lambda: {"enable_prefix_caching": "True"})
    is_base_model: bool = False
    is_reasoning_model: bool = False
    runs: list[int] = field(default_factory=lambda: list(range(8)))
    # run n uses seeds[n]: SEA-HELM's own list (run_evaluation.slurm), so every run matches a leaderboard run
    seeds: list[int] = field(default_factory=lambda: list(SEAHELM_SEEDS))
    limit: int | None = None
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    metricx_model: str = "google/metricx-24-hybrid-xxl-v2p6-bfloat16"
    # Hugging Face cache holding the judge, MetricX, its tokenizer and the task set's datasets (`python -m
    # evals.seahelm stage-weights`); set, the runs are offline (HF_HUB_OFFLINE=1). None: the node downloads them.
    hf_home: str | None = None


@dataclass
class MergeModel:
    """One input: a directory (or anything `recipes.artifacts.versions.Registry.resolve` accepts) and its parameters."""

    path: str = ""
    weight: float = 1.0
    density: float | None = None  # fraction of task-vector entries kept (ties, dare_ties, della)
    epsilon: float | None = None  # della: spread of keep probabilities around density


@dataclass
class MergeSettings:
    method: str = "task_arithmetic"
    base_model: str = ""  # required by every method but linear
    models: list[MergeModel] = field(default_factory=list)
    scale: float = 1.0  # mergekit's `lambda`: multiplies the merged task vector
    normalize: bool | None = None  # divide by the sum of weights; None keeps mergekit's per-method default
    t: float = 0.5  # slerp: 0 = base model, 1 = the other model
    dtype: str = "float32"  # arithmetic dtype
    out_dtype: str = "bfloat16"
    chat_template: str | None = None  # None: copied from the base (or first) model's tokenizer
    device: str = "cpu"  # "cpu" or "cuda"
    seed: int = 0  # DARE / DELLA draw random masks
    out: str = ""


@dataclass
class ReleaseSettings:
    variants: list[str] = field(default_factory=lambda: ["hf_bf16", "gguf_q8_0"])
    name: str = "sealion"  # version names become <name>-<variant>
    version: str | None = None  # None: the registry's next version
    quality_texts: list[str] = field(default_factory=list)  # JSONL files of {"text", "lang"}
    max_docs_per_language: int = 4
    max_tokens_per_doc: int = 256
    # a llama.cpp checkout: convert_hf_to_gguf.py, and build/bin/llama-quantize if built; empty: $LLAMA_CPP_DIR,
    # then the converter of the PyPI sdist (cached) and llama-quantize from PATH
    llama_cpp_dir: str = ""
    fp8_ignore: list[str] = field(default_factory=lambda: ["lm_head"])
    nvfp4_calib_size: int = 512
    threads: int = 2


@dataclass
class RunConfig:
    experiment: str = MISSING
    name: str = MISSING  # run name: the run directory is <launch.root>/<run.name>/<stage.name>
    input: str | None = None  # upstream artifact of this stage: a version id or a path
    upstream: str | None = None  # set by the pipeline: the stage whose artifact is this stage's input
    seed: int = 1234


@dataclass
class StageConfig:
    """What the launcher needs to know about a stage; its code facts (engine, payload) are its StageSpec, in its
    module (recipes/stages/<name>.py)."""

    name: str = MISSING
    needs_gpu: bool = False
    container: str = "train"  # key into cluster.containers
    nodes: int = 1
    gpus_per_node: int | None = None  # None: the cluster's gpus_per_node (0 on CPU-only stages)
    time: str = "04:00:00"
    array: str | None = None  # Slurm array spec for data-parallel CPU stages, e.g. "0-63%16"


@dataclass
class ModelConfig:
    """Gemma 3 architecture and parallelism; names follow Megatron-Bridge's Gemma3ModelProvider."""

    name: str = MISSING
    hf_id: str = MISSING  # Hugging Face id of the released checkpoint this size starts from
    # The text-only language model of hf_id as the hf_import stage writes it (artifact/text, with vision/ beside it
    # for a multimodal model): what SFT exports back to, and where every exporting stage (sft, merge, rl, apo,
    # release) finds the vision tower to write artifact/multimodal. None: hf_id.
    hf_text_checkpoint: str | None = None
    provider: str = MISSING  # Megatron-Bridge provider class
    multimodal: bool = False  # the released checkpoint is Gemma3ForConditionalGeneration (vision tower kept)
    num_layers: int = MISSING
    hidden_size: int = MISSING
    ffn_hidden_size: int = MISSING
    num_attention_heads: int = MISSING
    num_query_groups: int = MISSING
    kv_channels: int = MISSING
    vocab_size: int = MISSING
    seq_length: int = MISSING  # the model's context length
    window_size: int = MISSING  # sliding window of the local layers
    interleaved_attn_pattern: list[int] = field(default_factory=lambda: [5, 1])  # local : global layers
    rotary_base: list[float] = field(default_factory=lambda: [10_000.0, 1_000_000.0])  # local, global
    rope_scaling_factor: float = 1.0
    share_embeddings_and_output_weights: bool = True
    tensor_model_parallel_size: int = 1
    pipeline_model_parallel_size: int = 1
    virtual_pipeline_model_parallel_size: int | None = None
    num_layers_in_first_pipeline_stage: int | None = None
    num_layers_in_last_pipeline_stage: int | None = None
    context_parallel_size: int = 1
    # How CP ranks exchange K/V: all_gather | a2a | p2p | a2a+p2p. Transformer Engine runs sliding-window attention
    # (5 of Gemma 3's 6 layer types) with CP only over all_gather or a2a; a2a also needs CP to divide the heads per TP
    # rank.
    cp_comm_type: str = "all_gather"
    sequence_parallel: bool = False
    recompute_granularity: str | None = None  # None | selective | full
    recompute_modules: list[str] = field(default_factory=list)  # selective: core_attn, mlp, layernorm, ...
    recompute_method: str | None = None  # full: uniform | block
    recompute_num_layers: int | None = None
    # Transformer Engine's attention kernel: flash (needs flash-attn, as in the NeMo image), fused (cuDNN), unfused,
    # or auto (TE picks what is installed and supports the shapes; Megatron-Bridge's own Gemma 3 recipes' choice).
    attention_backend: str = "auto"
    # Speed levers, Megatron-core's TransformerConfig names (megatron-core 0.16.1), measured by
    # bench/train_throughput.py
    # --sweep; defaults are Gemma3ModelProvider's until a sweep on a GPU says otherwise.
    cross_entropy_loss_fusion: bool = True  # the fused vocabulary-parallel cross-entropy
    cross_entropy_fusion_impl: str = "native"  # native | te
    gradient_accumulation_fusion: bool = False  # weight gradients accumulated into main_grad by TE's GEMM
    apply_rope_fusion: bool = False  # TE's fused RoPE kernel
    cuda_graph_impl: str = "none"  # none | local | transformer_engine
    cuda_graph_scope: list[str] = field(default_factory=list)  # e.g. [attn, mlp] with transformer_engine; []: full


@dataclass
class MixedPrecisionConfig:
    """A Megatron-Bridge mixed-precision preset (name) and the fields we set on top of it, by Bridge's names
    (MixedPrecisionConfig); None keeps the preset's value. Without FP8: a preset without it (precision=bf16)."""

    name: str = MISSING  # Megatron-Bridge preset, e.g. bf16_mixed, bf16_with_fp8_delayed_scaling_mixed
    bf16: bool | None = None
    params_dtype: str | None = None  # a torch dtype's name: bfloat16, float16, float32
    fp8: str | None = None  # hybrid | e4m3
    fp8_recipe: str | None = None  # delayed | tensorwise | mxfp8 | blockwise
    fp8_param_gather: bool | None = None
    first_last_layers_bf16: bool | None = None
    num_layers_at_start_in_bf16: int | None = None
    num_layers_at_end_in_bf16: int | None = None
    requires_gpu_arch: str | None = None  # ours, for preflight: e.g. blackwell for MXFP8


@dataclass
class TrainConfig:
    train_iters: int = MISSING
    global_batch_size: int = MISSING
    micro_batch_size: int = 1
    eval_interval: int = 1000
    eval_iters: int = 10
    exit_signal_handler: bool = True  # save a checkpoint and exit on SIGTERM (Slurm's signal before time limit)
    exit_duration_in_mins: int | None = None


@dataclass
class OptimizerConfig:
    optimizer: str = "adam"  # Megatron's adam is AdamW: decoupled weight decay
    lr: float = MISSING
    min_lr: float = 0.0
    weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    clip_grad: float = 1.0
    use_distributed_optimizer: bool = True
    # TE's FusedAdam keeps the fp32 master weights and steps in one kernel (Megatron-core's OptimizerConfig name)
    use_precision_aware_optimizer: bool = False


@dataclass
class SchedulerConfig:
    lr_decay_style: str = "cosine"
    lr_warmup_iters: int = 0
    lr_decay_iters: int | None = None  # None: train.train_iters


@dataclass
class DatasetConfig:
    sequence_length: int = MISSING
    blend: str | None = None  # blend.json written by data prep; None with mock=true
    mock: bool = False
    split: str = "99,1,0"
    # CPT: evaluate each language's validation split on its own at every evaluation
    # (recipes/engines/language_validation.py)
    validation_per_language: bool = True
    packed_sequence: bool = False  # SFT: sequences packed by data_prep.sft_format
    packed_data: str | None = None  # SFT: data_prep.sft_format's packed.npy (or its directory)
    num_workers: int = 2


@dataclass
class CheckpointConfig:
    save: str | None = None  # None: <run dir>/checkpoints
    load: str | None = None  # None: resume from save if it holds a complete checkpoint
    pretrained_checkpoint: str | None = None  # the imported Hugging Face model this run starts from
    save_interval: int = 1000
    ckpt_format: str = "torch_dist"
    async_save: bool = False
    most_recent_k: int = 2


@dataclass
class LoggerConfig:
    log_interval: int = 10
    tensorboard_dir: str | None = None  # None: <run dir>/tensorboard
    wandb_project: str | None = None
    wandb_exp_name: str | None = None
    mlflow_experiment: str | None = None


@dataclass
class FaultToleranceConfig:
    """nvidia-resiliency-ext fault tolerance for the training stages (Megatron-Bridge ConfigContainer.ft): a hung
    rank is detected by heartbeat timeouts and the job ends so Slurm can requeue it."""

    enable_ft_package: bool = False
    calc_ft_timeouts: bool = False  # learn the timeouts from the first iterations and checkpoints


@dataclass
class NVRxStragglerConfig:
    """nvidia-resiliency-ext straggler detection (ConfigContainer.nvrx_straggler): reports GPUs far slower than
    the rest, the usual sign of a failing node in a long run."""

    enabled: bool = False
    report_time_interval: float = 300.0  # seconds between checks


@dataclass
class TunnelConfig:
    kind: str = "local"  # local: submit from this machine (a login node); ssh: submit through SSH
    host: str | None = None
    user: str | None = None
    identity: str | None = None
    remote_dir: str | None = None  # ssh: NeMo-Run's job directory on the cluster


@dataclass
class ClusterConfig:
    name: str = MISSING
    executor: str = "local"  # local | slurm
    gpus_per_node: int = 0
    gpu_memory_gib: float = 0.0
    gpu_arch: str | None = None  # hopper | blackwell | ...
    gpu_peak_bf16_tflops: float = 0.0  # dense bf16 peak, for `recipes.plan` GPU-hour estimates
    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    exclusive: bool = False
    retries: int = 0  # Slurm requeues a failed job this many times
    signal_lead_s: int = 120  # Slurm sends SIGTERM this long before the time limit; training saves and exits
    containers: dict[str, str | None] = field(default_factory=dict)  # image (enroot squashfs) per stage family
    container_mounts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # plain environment (NCCL settings...), rendered into sbatch
    secrets: list[str] = field(default_factory=list)  # names passed from the submitting environment, never values
    setup_lines: list[str] = field(default_factory=list)
    srun_args: list[str] = field(default_factory=list)
    tunnel: TunnelConfig = field(default_factory=TunnelConfig)


@dataclass
class LaunchConfig:
    dryrun: bool = False  # render everything to the run directory; submit nothing
    detach: bool = True  # Slurm: return after submission instead of waiting for the job
    root: str = MISSING  # runs live under <root>/<run.name>/<stage.name>
    check_paths: bool = True  # preflight checks that input paths exist (off when they live only on the cluster)
    memory_headroom: float = 0.1  # preflight fails when the estimate exceeds (1 - headroom) x GPU memory
    assumed_mfu: float = 0.4  # for `recipes.plan` GPU-hour estimates
    # Exact strings that look like credentials but are not (a digest recipes.core.secret_values does not
    # recognise): preflight accepts them and redaction leaves them in the written files.
    not_secrets: list[str] = field(default_factory=list)


@dataclass
class DataConfig:
    """Where the text comes from and how it is mixed; data prep's own knobs live under `data_prep`."""

    name: str = MISSING
    datamix: str = MISSING  # plain YAML datamix (conf/data/datamix/*.yaml)
    tokenizer: str = MISSING  # Hugging Face tokenizer directory or id
    sources: list[dict[str, Any]] = field(default_factory=list)  # raw inputs: path, lang, source, format
    budget_tokens: int | None = None  # None: the datamix's own budget


@dataclass
class DataPrepConfig:
    """Knobs of the data_prep stage (data_prep.curate, data_prep.tokenize and data_prep.blend)."""

    curate: bool = True  # clean, language-ID, quality-filter and dedup the sources before tokenising
    min_words: float = 50  # Gopher's minimum document length (words counted the language's way)
    on_language_disagreement: str = "keep"  # keep (and record) | drop documents whose detected language differs
    dedup_threshold: float = 0.7  # MinHash-LSH Jaccard above which a document is a near-duplicate
    workers: int = 2  # tokenisation processes
    shard_bytes: int = 64 * 1024 * 1024  # input bytes per shard: the unit of parallelism and of resume
    max_epochs: float = 4.0  # warn when the blend repeats a source more often than this
    drop_missing: bool = False  # drop datamix rows without prepared data (reported) instead of failing


@dataclass
class EvalConfig:
    """Which suites the eval stage runs: the quick local evaluator + per-language perplexity (local), SEA-HELM and
    the English suite (lm-eval), the last two with vLLM in the eval container on a cluster."""

    model: str | None = None  # a path, a registered version or a hub id; None: the upstream model, else model.hf_id
    languages: list[str] = field(default_factory=lambda: ["id", "vi", "ms", "tl", "my"])
    n_per_language: int = 4
    seeds: list[int] = field(default_factory=lambda: [0])
    modes: list[str] = field(default_factory=lambda: ["logprob"])
    perplexity_data: str | None = None  # JSONL glob of held-out {"text","lang"} docs; None: the data sources
    perplexity_max_length: int = 512
    # Documents scored per language (the first ones of the files); the report shows used / available. None: all.
    perplexity_max_documents: int | None = 200
    suites: list[str] = field(default_factory=lambda: ["local"])  # local | seahelm | lm_eval
    seahelm: SeaHelmSettings = field(default_factory=SeaHelmSettings)  # the official SEA-HELM, vLLM, on a cluster
    lm_eval: LmEvalSettings = field(default_factory=LmEvalSettings)  # the English suite (lm-evaluation-harness)


@dataclass
class RLConfig:
    """Online RL (stage rl) on NeMo-RL's GRPO, set up as Dr. GRPO by default; recipes/engines/nemo_rl_config.py maps "
    "each
    field onto NeMo-RL's keys."""

    algorithm: str = "dr_grpo"  # dr_grpo | grpo
    nemo_rl_base: str = "/opt/nemo-rl/examples/configs/grpo_math_1B.yaml"  # the NeMo-RL config inherited (defaults:)
    backend: str = "dtensor"  # dtensor | megatron: the policy's training backend
    prompts_per_step: int = 32
    generations_per_prompt: int = 16  # the group whose mean reward is the baseline
    max_steps: int = 500
    max_total_sequence_length: int = 4096  # prompt + answer; Dr. GRPO's constant normaliser is this length
    kl_beta: float = 0.0  # reference-policy KL penalty; Dr. GRPO runs without
    ratio_clip_low: float = 0.2
    ratio_clip_high: float = 0.2
    lr: float = 3.0e-7
    train_global_batch_size: int = 512  # sequences per optimizer step: prompts_per_step x generations_per_prompt
    train_micro_batch_size: int = 1
    activation_checkpointing: bool = True
    # The DTensor policy's layout; the defaults are grpo_math_1B.yaml's (NeMo-RL's base config).
    dtensor_v2: bool = True  # NeMo-RL's DTensor v2 worker (Automodel) instead of v1
    sequence_packing: bool = True
    logprob_batch_size: int = 4
    generation_tensor_parallel_size: int = 4  # vLLM
    gpu_memory_utilization: float = 0.6
    colocated: bool = True  # vLLM shares the training GPUs
    temperature: float = 1.0
    datasets: list[dict[str, Any]] = field(default_factory=list)  # {name, path (JSONL in NeMo-RL's format), env}
    val_prompts: int = 256  # prompts held out of rl.datasets for NeMo-RL's validation (0: no validation)
    val_period: int = 10  # validate every this many steps (NeMo-RL's grpo.val_period)


@dataclass
class APOConfig:
    """Preference alignment (stage apo) on NeMo-RL's DPO with the APO loss (recipes/posttrain/preference_loss.py)."""

    loss: str = "apo_zero"  # apo_zero | apo_down | sigmoid (plain DPO)
    backend: str = "dtensor"  # dtensor | megatron: the policy's training backend (as rl.backend for rl)
    beta: float = 0.1
    nemo_rl_base: str = "/opt/nemo-rl/examples/configs/dpo.yaml"
    max_steps: int = 300
    global_batch_size: int = 128  # preference pairs per step (NeMo-RL runs 2x rows: chosen, rejected interleaved)
    micro_batch_size: int = 1
    max_total_sequence_length: int = 4096
    lr: float = 5.0e-7
    activation_checkpointing: bool = True
    pairs: str | None = None  # pairs.jsonl from data_prep.clair; None: the upstream artifact's pairs.jsonl
    val_pairs: int = 64  # pairs held out for NeMo-RL's DPO validation (0: no validation)


@dataclass
class ClairConfig:
    """CLAIR preference pairs (stage clair, data_prep.clair): the policy's own answers to `prompts`, each minimally
    revised by a stronger reviser behind an OpenAI-compatible endpoint."""

    prompts: str | None = None  # JSONL of {id, prompt or messages, lang}
    serve_policy: bool = False  # serve the policy with vLLM inside the job (GPU node); else transformers in-process
    policy_tensor_parallel_size: int = 1
    policy_max_tokens: int = 1024
    policy_temperature: float = 0.0
    reviser_base_url: str = "http://localhost:8000/v1"
    reviser_model: str = "reviser"
    reviser_api_key_env: str = "OPENAI_API_KEY"  # the variable's name; list it in cluster.secrets too
    reviser_max_tokens: int = 2048
    batch_size: int = 8
    seed: int = 0


@dataclass
class PipelineConfig:
    stages: list[str] = field(default_factory=list)  # in dependency order


# The Megatron-Bridge-shaped sections of the training stages (cpt, sft): each names its ConfigContainer field.
TRAINING_SECTIONS: dict[str, type] = {
    "mixed_precision": MixedPrecisionConfig,
    "train": TrainConfig,
    "optimizer": OptimizerConfig,
    "scheduler": SchedulerConfig,
    "dataset": DatasetConfig,
    "checkpoint": CheckpointConfig,
    "logger": LoggerConfig,
    "ft": FaultToleranceConfig,
    "nvrx_straggler": NVRxStragglerConfig,
}


@dataclass
class RootConfig:
    """The sections every stage's job has. A stage's own sections (its StageSpec.sections: `rl` for rl, the
    training sections for cpt and sft, ...) are added to this per stage by `recipes.core.config`, so a job's config
    holds its own settings and none of another stage's."""

    run: RunConfig = field(default_factory=RunConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)

    if TYPE_CHECKING:

        def __getattr__(self, section: str) -> Any:
            """A stage's own section: present in that stage's config only (see StageSpec.sections)."""
