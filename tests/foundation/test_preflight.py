"""Every preflight rule, each with a failing and a passing case, on configs composed from the real tree."""

import json
import math

import pytest
from safetensors import safe_open

from recipes.core.config import ConfigError, to_object
from recipes.stages import compose, data_prep
from recipes.submit import memory, preflight

BIG = ["experiment=sealion_v4_27b", "cluster=slurm", "launch.check_paths=false"]


def cfg_of(*overrides, stage="cpt"):
    return to_object(compose(stage, list(overrides)))


def fields(findings):
    return [f.field for f in findings]


@pytest.mark.parametrize(
    "rule,bad,good,field",
    [
        (
            preflight.check_tensor_parallel,
            ["model.tensor_model_parallel_size=3"],
            [],
            "model.tensor_model_parallel_size",
        ),
        # 32 heads but 16 KV groups: TP=32 divides the heads, not the groups.
        (
            preflight.check_tensor_parallel,
            ["model.tensor_model_parallel_size=32"],
            [],
            "model.tensor_model_parallel_size",
        ),
        (
            preflight.check_tensor_parallel,
            ["model.tensor_model_parallel_size=1", "model.sequence_parallel=true"],
            ["model.tensor_model_parallel_size=2", "model.sequence_parallel=true"],
            "model.sequence_parallel",
        ),
        (
            preflight.check_pipeline_parallel,
            ["model.pipeline_model_parallel_size=4"],
            [
                "model.pipeline_model_parallel_size=4",
                "model.num_layers_in_first_pipeline_stage=14",
                "model.num_layers_in_last_pipeline_stage=16",
            ],
            "model.pipeline_model_parallel_size",
        ),
        (
            preflight.check_pipeline_parallel,
            [
                "model.pipeline_model_parallel_size=4",
                "model.num_layers_in_first_pipeline_stage=15",
                "model.num_layers_in_last_pipeline_stage=16",
            ],
            ["model.pipeline_model_parallel_size=2"],
            "model.num_layers_in_first_pipeline_stage",
        ),
        (
            preflight.check_pipeline_parallel,
            ["model.virtual_pipeline_model_parallel_size=2"],
            [
                "model.pipeline_model_parallel_size=2",
                "model.num_layers_in_first_pipeline_stage=30",
                "model.num_layers_in_last_pipeline_stage=32",
            ],
            "model.virtual_pipeline_model_parallel_size",
        ),
        (
            preflight.check_context_parallel,
            ["model.context_parallel_size=2", "dataset.sequence_length=8200"],
            ["model.context_parallel_size=2", "dataset.sequence_length=8192"],
            "dataset.sequence_length",
        ),
        (
            preflight.check_sequence_length,
            ["dataset.sequence_length=262144"],
            ["dataset.sequence_length=131072"],
            "dataset.sequence_length",
        ),
        (
            preflight.check_gpus,
            [
                "stage.nodes=3",
                "model.pipeline_model_parallel_size=2",
                "model.tensor_model_parallel_size=8",
                "model.context_parallel_size=2",
            ],
            ["stage.nodes=4", "model.context_parallel_size=2"],
            "stage.nodes",
        ),
        (
            preflight.check_batch,
            ["train.global_batch_size=1020"],
            ["train.global_batch_size=1024"],
            "train.global_batch_size",
        ),
        (
            preflight.check_memory,
            [
                "model.tensor_model_parallel_size=1",
                "model.pipeline_model_parallel_size=1",
                "model.sequence_parallel=false",
            ],
            [],
            "model.tensor_model_parallel_size",
        ),
        (preflight.check_precision, ["precision=mxfp8"], ["precision=fp8_delayed"], "mixed_precision.name"),
        (
            preflight.check_secrets,
            ["+cluster.env.HF_TOKEN=abc"],
            ["+cluster.env.NCCL_DEBUG=INFO"],
            "cluster.env.HF_TOKEN",
        ),
    ],
)
def test_rule_fails_and_passes(rule, bad, good, field):
    assert field in fields(rule(cfg_of(*BIG, *bad)))
    assert rule(cfg_of(*BIG, *good)) == []


def test_each_failure_names_field_and_fix():
    (finding,) = preflight.check_tensor_parallel(cfg_of(*BIG, "model.tensor_model_parallel_size=3"))
    assert finding.line() == (
        "model.tensor_model_parallel_size: TP=3 does not divide num_attention_heads=32; "
        "fix: use a TP that divides 32: [1, 2, 4, 8, 16, 32]"
    )


def test_paths_must_exist(tmp_path):
    missing = tmp_path / "nope"
    bad = cfg_of("experiment=sealion_v4_27b", "cluster=slurm", f"checkpoint.pretrained_checkpoint={missing}")
    assert "checkpoint.pretrained_checkpoint" in fields(preflight.check_paths(bad))
    missing.mkdir()
    assert "checkpoint.pretrained_checkpoint" not in fields(
        preflight.check_paths(
            cfg_of("experiment=sealion_v4_27b", "cluster=slurm", f"checkpoint.pretrained_checkpoint={missing}")
        )
    )


def test_data_prep_sources_must_match_files(tmp_path):
    bad = cfg_of(f"data.sources=[{{path: '{tmp_path}/*.jsonl'}}]", stage="data_prep")
    assert fields(data_prep.check_sources(bad)) == ["data.sources[0].path"]
    assert "data.sources[0].path" in fields(preflight.plan(bad).errors)  # the stage's own check runs in preflight
    (tmp_path / "a.jsonl").write_text("{}\n")
    assert data_prep.check_sources(cfg_of(f"data.sources=[{{path: '{tmp_path}/*.jsonl'}}]", stage="data_prep")) == []


def test_the_27b_default_layout_fits_an_80gb_h100_with_headroom():
    report = preflight.run(cfg_of(*BIG))
    assert (report.parallelism.tp, report.parallelism.pp, report.parallelism.dp) == (8, 2, 8)
    assert report.memory.total_gib < 80 * 0.9
    assert report.tokens_per_step == 1024 * 8192


def test_parameter_count_matches_the_real_270m_checkpoint(gemma3_dir):
    """The memory model's parameter count equals the tensors of the real Gemma 3 270M."""
    with safe_open(gemma3_dir / "model.safetensors", "pt") as f:
        real = sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())
    config = json.loads((gemma3_dir / "config.json").read_text())
    cfg = cfg_of("model=gemma3_270m")
    assert cfg.model.hidden_size == config["hidden_size"]
    assert cfg.model.num_layers == config["num_hidden_layers"]
    assert memory.total_parameters(cfg) == real


def test_recompute_and_sequence_parallel_lower_the_activation_estimate():
    base = memory.estimate(cfg_of(*BIG, "model.recompute_granularity=null", "model.recompute_modules=[]"), 128)
    selective = memory.estimate(cfg_of(*BIG), 128)
    full = memory.estimate(cfg_of(*BIG, "model.recompute_granularity=full", "model.recompute_method=uniform"), 128)
    assert full.activations_gib < selective.activations_gib < base.activations_gib
    no_dist = memory.estimate(cfg_of(*BIG, "optimizer.use_distributed_optimizer=false"), 128)
    assert no_dist.optimizer_gib == pytest.approx(selective.optimizer_gib * 8)


def test_data_tokenizer_must_load(tmp_path, gemma3_dir):
    """`data.tokenizer=/nonexistent` or a folder without a tokenizer once started data prep, whose workers then
    failed for ever; a hub id (fetched where the job runs) is not checked here."""
    (tmp_path / "empty").mkdir()
    for bad, why in ((tmp_path / "nope", "no such directory"), (tmp_path / "empty", "")):
        (finding,) = data_prep.check_tokenizer(cfg_of(f"data.tokenizer={bad}", stage="data_prep"))
        assert finding.field == "data.tokenizer" and finding.line().startswith(f"data.tokenizer: {bad} does not load (")
        assert why in finding.message and "fix: point it at a directory holding tokenizer.json" in finding.line()
    assert data_prep.check_tokenizer(cfg_of(f"data.tokenizer={gemma3_dir}", stage="data_prep")) == []
    assert data_prep.check_tokenizer(cfg_of("data.tokenizer=google/gemma-3-27b-it", stage="data_prep")) == []


def test_a_stage_s_own_checks_run_for_that_stage_only():
    """rl's check (prompts x generations = the global batch) runs in rl's preflight, not in another stage's,
    and the NeMo-RL engine's rules (TP divides the heads) run for rl by its engine."""
    bad = ["rl.train_global_batch_size=5", "model.tensor_model_parallel_size=3"]
    rl_errors = fields(preflight.plan(cfg_of(*bad, stage="rl")).errors)
    assert "rl.train_global_batch_size" in rl_errors and "model.tensor_model_parallel_size" in rl_errors
    with pytest.raises(ConfigError, match="the rl section belongs to stage rl, not merge"):
        cfg_of(*bad, stage="merge")  # merge's config has no rl section: the override is refused, not ignored
    assert "model.tensor_model_parallel_size" not in fields(preflight.plan(cfg_of(bad[1], stage="merge")).findings)
