"""The stage registry (recipes.stages): every stage module's STAGE, in pipeline order; what preflight reads from a
spec names real config keys."""

import pytest

from recipes.core.config import ConfigError, to_object
from recipes.core.stage_specs import StageSpec
from recipes.stages import STAGES, compose, specs, stage


@pytest.mark.parametrize("name", [spec.name for spec in specs() if spec.input_paths])
def test_every_input_path_key_is_a_config_key(name):
    cfg = to_object(compose(name, []))
    for key in stage(name).input_paths:
        section, field = key.split(".")
        assert hasattr(getattr(cfg, section), field), f"{name}: {key} is no config key"


def test_input_paths_of_the_stages_that_read_files():
    """By hand from what each stage opens: clair its prompts, apo its pairs, select its pool and target sets,
    sft/cpt the pretrained checkpoint and the blend (sft also packed data), release the text checkpoint."""
    assert stage("clair").input_paths == ("clair.prompts",)
    assert stage("apo").input_paths == ("apo.pairs",)
    assert set(stage("select").input_paths) == {"select.candidates", "select.targets"}
    assert {"checkpoint.pretrained_checkpoint", "dataset.blend"} <= set(stage("cpt").input_paths)
    assert {"dataset.packed_data", "model.hf_text_checkpoint"} <= set(stage("sft").input_paths)
    assert stage("release").input_paths == ("model.hf_text_checkpoint",)


def test_the_registry_lists_the_27b_chain_in_pipeline_order():
    """Discovered from the package, ordered by StageSpec.order: the chain of ARCHITECTURE.md, select between rl
    and clair."""
    chain = ["hf_import", "data_prep", "cpt", "sft", "merge", "rl", "select", "clair", "apo", "eval", "release"]
    assert list(STAGES) == chain
    assert [spec.name for spec in specs()] == chain
    assert [spec.order for spec in specs()] == sorted(spec.order for spec in specs())


def test_each_stage_s_functions_live_in_its_own_module():
    for spec in specs():
        assert spec.execute.__module__ == f"recipes.stages.{spec.name}", spec.name
        assert spec.render is None or spec.render.__module__ == spec.execute.__module__, spec.name


def test_an_unknown_stage_is_one_line_listing_the_choices():
    with pytest.raises(ConfigError) as err:
        stage("pretrain")
    assert str(err.value) == f"stage: unknown stage 'pretrain'; choose one of {', '.join(STAGES)}"


def test_a_spec_refuses_an_unknown_payload_and_a_multi_line_summary():
    def execute(ctx):
        return None

    base = dict(name="x", order=1, summary="one line", engine="python", payload_kind="jsonl", execute=execute)
    assert StageSpec(**base).payload_kind == "jsonl"
    with pytest.raises(ValueError, match="payload_kind='parquet'"):
        StageSpec(**{**base, "payload_kind": "parquet"})
    with pytest.raises(ValueError, match="summary must be one line"):
        StageSpec(**{**base, "summary": "two\nlines"})
