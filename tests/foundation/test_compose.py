"""Composition of every stage x model x cluster, and the one-line errors for bad input."""

import itertools

import pytest

from recipes.core.config import CONF_DIR, ConfigError, to_object
from recipes.stages import STAGES, compose

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
CLUSTERS = sorted(p.stem for p in (CONF_DIR / "cluster").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
PRECISIONS = sorted(p.stem for p in (CONF_DIR / "precision").glob("*.yaml"))


def test_the_tree_has_the_promised_options():
    assert set(MODELS) >= {"gemma3_270m", "gemma3_1b", "gemma3_4b", "gemma3_12b", "gemma3_27b"}
    assert set(CLUSTERS) >= {"local", "slurm", "gcp_a3mega"}
    assert set(EXPERIMENTS) >= {"smoke", "sealion_v4_27b"}
    assert set(PRECISIONS) >= {"bf16", "fp8_current", "fp8_delayed", "mxfp8"}


@pytest.mark.smoke
@pytest.mark.parametrize("stage,model,cluster", list(itertools.product(STAGES, MODELS, CLUSTERS)))
def test_every_stage_model_cluster_composes(stage, model, cluster):
    cfg = to_object(compose(stage, [f"model={model}", f"cluster={cluster}"]))
    assert cfg.stage.name == stage
    assert cfg.model.name == model
    assert cfg.cluster.name == cluster
    assert cfg.model.num_layers > 0 and cfg.model.vocab_size >= 262144


@pytest.mark.smoke
@pytest.mark.parametrize("stage,experiment", list(itertools.product(STAGES, EXPERIMENTS)))
def test_every_experiment_composes_for_every_stage(stage, experiment):
    cfg = to_object(compose(stage, [f"experiment={experiment}", "cluster=slurm"]))
    assert cfg.run.experiment == experiment
    assert set(cfg.pipeline.stages) <= set(STAGES)


def test_experiment_stage_specialisation_applies_only_to_its_stage():
    cpt = to_object(compose("cpt", ["experiment=sealion_v4_27b", "cluster=slurm"]))
    sft = to_object(compose("sft", ["experiment=sealion_v4_27b", "cluster=slurm"]))
    # The card's CPT regime: global batch 1024 of 8k sequences, 500B tokens.
    assert cpt.train.global_batch_size == 1024
    assert cpt.dataset.sequence_length == 8192
    assert cpt.train.train_iters * 1024 * 8192 == pytest.approx(500e9, rel=1e-4)
    assert cpt.optimizer.lr == 4.0e-8
    assert sft.optimizer.lr != cpt.optimizer.lr
    assert sft.dataset.packed_sequence and not cpt.dataset.packed_sequence


def test_real_27b_architecture_numbers():
    m = to_object(compose("cpt", ["model=gemma3_27b"])).model
    assert (m.num_layers, m.hidden_size, m.ffn_hidden_size) == (62, 5376, 21504)
    assert (m.num_attention_heads, m.num_query_groups, m.kv_channels) == (32, 16, 128)
    assert (m.vocab_size, m.window_size, m.rope_scaling_factor) == (262208, 1024, 8.0)


def test_command_line_overrides_win_over_experiment():
    cfg = to_object(compose("cpt", ["experiment=sealion_v4_27b", "cluster=slurm", "train.global_batch_size=512"]))
    assert cfg.train.global_batch_size == 512


@pytest.mark.parametrize(
    "override,expected",
    [
        (["train.iterz=5"], "train.iterz: unknown key; did you mean train.eval_iters?"),
        (["+train.train_iter=5"], "train.train_iter: unknown key; did you mean train.train_iters?"),
        (["cluster.tunnel.hots=x"], "cluster.tunnel.hots: unknown key; did you mean cluster.tunnel.host?"),
        (["train.global_batch_size=abc"], "train.global_batch_size: Value 'abc' of type 'str' could not be converted"),
        (["launch.dryrun=maybe"], "launch.dryrun: Value 'maybe' is not a valid bool"),
        (["model=gemma3_27"], "model: no option 'gemma3_27'; did you mean model=gemma3_27b?"),
        (["optimizer.lr=???"], "optimizer.lr: required but not set"),
    ],
)
def test_bad_input_gives_one_line_naming_the_field(override, expected):
    with pytest.raises(ConfigError) as err:
        compose("cpt", override)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(expected)


def test_unknown_stage_is_refused():
    """Not a registered stage: one line listing the stages in pipeline order, before Hydra looks for its conf file."""
    with pytest.raises(ConfigError, match="^stage: unknown stage 'pretrain'; choose one of hf_import, data_prep, cpt"):
        compose("pretrain", [])
