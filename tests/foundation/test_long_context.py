"""The long-context variants (conf/context): 27B CPT at 32k and 128k with context parallelism on 80 GB H100s."""

import pytest
from omegaconf import OmegaConf

from recipes.core.config import CONF_DIR, to_object
from recipes.stages import compose
from recipes.submit import memory, preflight

BIG = ["experiment=sealion_v4_27b", "cluster=slurm", "launch.check_paths=false"]
EIGHT_K_TOKENS_PER_STEP = 1024 * 8192  # the 8k regime (experiment_stage/sealion_v4_27b_cpt.yaml)
BUDGET_GIB = 80 * (1 - 0.1)  # cluster=slurm's H100 less the default launch.memory_headroom


def cfg_of(*overrides, stage="cpt"):
    return to_object(compose(stage, [*BIG, *overrides]))


@pytest.mark.parametrize(
    "context,seq,gbs,cp,dp",
    [
        ("long_32k", 32768, 256, 2, 4),
        ("long_128k", 131072, 64, 8, 1),
    ],
)
def test_long_variant_fits_an_80gb_h100_as_its_comment_says(context, seq, gbs, cp, dp):
    cfg = cfg_of(f"context={context}")
    assert (cfg.dataset.sequence_length, cfg.train.global_batch_size, cfg.train.micro_batch_size) == (seq, gbs, 1)
    assert cfg.stage.nodes == 16 and cfg.model.sequence_parallel
    assert (cfg.model.recompute_granularity, cfg.model.recompute_modules) == ("selective", ["core_attn"])

    report = preflight.run(cfg)  # raises PreflightError on any finding, memory included
    par = report.parallelism
    assert (par.tp, par.pp, par.cp, par.dp, par.world) == (8, 2, cp, dp, 128)
    assert report.tokens_per_step == EIGHT_K_TOKENS_PER_STEP
    assert cfg.train.global_batch_size % (cfg.train.micro_batch_size * par.dp) == 0
    est = report.memory
    assert est.total_gib < BUDGET_GIB
    assert est.total_gib == pytest.approx(48.8, abs=0.05)

    # The comment quotes what recipes.plan prints: a change to the memory model must update it.
    comment = (CONF_DIR / "context" / "stage" / f"{context}_cpt.yaml").read_text()
    assert f"TP8 x PP2 (model/gemma3_27b) x CP{cp} x DP{dp}" in comment
    assert f"global batch {gbs} x {seq}" in comment
    for part in (est.weights_gib, est.grads_gib, est.optimizer_gib, est.activations_gib, est.logits_gib):
        assert f"{part:.1f}" in comment
    assert f"= {est.total_gib:.1f} GiB of the {BUDGET_GIB:.0f} GiB budget" in comment


def test_context_parallelism_divides_the_sequence_memory_and_shards_the_optimizer_over_dp_times_cp():
    cp4 = memory.estimate(cfg_of("context=long_128k", "model.context_parallel_size=4"), 128)
    cp8 = memory.estimate(cfg_of("context=long_128k"), 128)
    assert cp4.activations_gib == pytest.approx(2 * cp8.activations_gib)
    assert cp4.logits_gib == pytest.approx(2 * cp8.logits_gib)
    # Weights and gradients are replicated over CP; the optimizer is sharded over DP x CP (2 x 4 = 1 x 8).
    assert (cp4.weights_gib, cp4.grads_gib, cp4.optimizer_gib) == (cp8.weights_gib, cp8.grads_gib, cp8.optimizer_gib)
    assert cp4.total_gib == pytest.approx(81.1, abs=0.05)  # "CP4 would estimate 81.1 GiB"


def test_128k_without_context_parallelism_is_refused_naming_the_field():
    cfg = cfg_of("context=long_128k", "model.context_parallel_size=1")
    with pytest.raises(preflight.PreflightError) as err:
        preflight.run(cfg)
    (finding,) = err.value.findings
    assert finding.field == "model.context_parallel_size"
    assert "estimated 275.2 GiB per GPU exceeds 72.0 GiB" in finding.message
    assert "model.context_parallel_size=8 fits (48.8 GiB on these 128 GPUs)" in finding.fix


@pytest.mark.parametrize(
    "comm,message",
    [
        ("p2p", "only over all_gather or a2a"),
        ("a2a", "a2a splits the 4 attention heads of each TP rank over CP8"),  # 32 heads / TP8
    ],
)
def test_a_cp_exchange_transformer_engine_refuses_for_sliding_windows_is_named(comm, message):
    cfg = cfg_of("context=long_128k", f"model.cp_comm_type={comm}")
    with pytest.raises(preflight.PreflightError) as err:
        preflight.run(cfg)
    (finding,) = err.value.findings
    assert finding.field == "model.cp_comm_type" and message in finding.message
    assert finding.fix == "set model.cp_comm_type=all_gather"
    preflight.run(cfg_of("context=long_32k", "model.cp_comm_type=a2a"))  # CP2 divides 4 heads: a2a is fine
    preflight.run(cfg_of("model.cp_comm_type=p2p"))  # no context parallelism at 8k: the exchange is unused


def test_an_8k_overflow_still_names_tensor_parallelism():
    """Where the model state, not the sequence, overflows, CP is the wrong knob to name."""
    cfg = cfg_of(
        "model.tensor_model_parallel_size=1", "model.pipeline_model_parallel_size=1", "model.sequence_parallel=false"
    )
    assert [f.field for f in preflight.check_memory(cfg)] == ["model.tensor_model_parallel_size"]


@pytest.mark.parametrize("stage,seq,nodes", [("sft", 8192, 8), ("rl", 8192, 8), ("hf_import", 8192, 1)])
def test_only_the_cpt_stage_changes(stage, seq, nodes):
    """A pipeline passes context=... to every stage; the others keep their own length, nodes and layout."""
    cfg = cfg_of("context=long_128k", stage=stage)
    # rl and hf_import have no training sections: their length is their own (rl.max_total_sequence_length)
    length = cfg.dataset.sequence_length if "dataset" in cfg.__dataclass_fields__ else seq
    assert (length, cfg.stage.nodes, cfg.model.context_parallel_size) == (seq, nodes, 1)
    assert OmegaConf.to_container(compose(stage, [*BIG, "context=long_128k"])) == OmegaConf.to_container(
        compose(stage, BIG)
    )


def test_default_context_changes_nothing():
    assert OmegaConf.to_container(compose("cpt", [*BIG, "context=default"])) == OmegaConf.to_container(
        compose("cpt", BIG)
    )
    assert cfg_of().dataset.sequence_length == 8192


def test_rope_already_covers_128k():
    """Gemma 3 27B reaches 128K by scaling the global layers' RoPE by 8; the preset carries it, the variant keeps it."""
    cfg = cfg_of("context=long_128k")
    assert cfg.model.rope_scaling_factor == 8.0 and cfg.model.rotary_base == [10_000.0, 1_000_000.0]
    assert cfg.dataset.sequence_length == cfg.model.seq_length == 131072
