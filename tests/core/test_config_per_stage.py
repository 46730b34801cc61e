"""A stage's job composes and records its own config: the shared sections and the sections its StageSpec owns.
An override meant for another stage is refused with the owner's name, unless that stage runs in the same pipeline."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest
import yaml
from omegaconf import OmegaConf

from recipes.core.config import ConfigError, to_object, tree_sections
from recipes.core.schema import TRAINING_SECTIONS, RootConfig
from recipes.core.stage_specs import StageSpec
from recipes.stages import compose, compose_tree, read_job_config, specs
from recipes.submit.launch import prepare

SHARED = {f.name for f in fields(RootConfig)}


def sections(cfg) -> set[str]:
    return set(cfg.keys())


def test_each_stage_gets_the_shared_sections_and_its_own_only():
    assert sections(compose("cpt")) == SHARED | set(TRAINING_SECTIONS)
    assert sections(compose("rl")) == SHARED | {"rl", "logger"}
    assert sections(compose("hf_import")) == SHARED
    assert sections(compose("select")) == SHARED | {"select"}


@pytest.mark.parametrize(
    "override, owner",
    [("rl.generations_per_prompt=3", "rl"), ("select.lr=9.0", "select"), ("clair.prompts=/nope", "clair")],
)
def test_an_override_of_another_stages_section_names_its_owner(override, owner):
    with pytest.raises(ConfigError) as err:
        compose("cpt", [override])
    message = str(err.value)
    assert message.startswith(override.split("=")[0] + ":")
    assert f"belongs to stage {owner}, not cpt" in message


def test_a_config_group_for_another_stage_is_refused_too():
    # precision= sets mixed_precision (its files' `# @package`), which only the training stages own
    with pytest.raises(ConfigError, match="mixed_precision section belongs to stage cpt or sft, not rl"):
        compose("rl", ["precision=fp8_current"])
    assert compose("cpt", ["precision=fp8_current"]).mixed_precision.name == "bf16_with_fp8_current_scaling_mixed"


def test_a_pipeline_passes_each_stage_the_overrides_of_the_others():
    cfg = compose("cpt", ["rl.generations_per_prompt=3", "optimizer.lr=2e-5"], pipeline=["cpt", "rl"])
    assert "rl" not in cfg and cfg.optimizer.lr == 2e-5
    assert compose("rl", ["rl.generations_per_prompt=3"], pipeline=["cpt", "rl"]).rl.generations_per_prompt == 3
    with pytest.raises(ConfigError, match="belongs to stage select"):
        compose("cpt", ["select.lr=9.0"], pipeline=["cpt", "rl"])


def test_a_stage_command_does_not_take_another_stage_and_a_pipeline_names_its_stages():
    with pytest.raises(ConfigError, match=r"^stage: set by the command \(sealion cpt\)"):
        compose("cpt", ["stage=sft"])
    with pytest.raises(ConfigError, match=r"belongs to stage rl, which is not in pipeline.stages \(cpt, sft\)"):
        compose("cpt", ["rl.lr=1e-6"], pipeline=["cpt", "sft"])


def test_shared_sections_and_experiment_values_still_reach_every_stage():
    cfg = compose("rl", ["model.hf_id=/models/x", "run.seed=7"])
    assert cfg.model.hf_id == "/models/x" and cfg.run.seed == 7
    # the whole tree still holds every stage's experiment settings (the pipeline reads pipeline.stages from it)
    tree = compose_tree()
    assert {"rl", "select", "train", "eval"} <= set(tree.keys())


def test_resolved_yaml_records_the_jobs_config_only_and_the_job_reads_it_back(tmp_path):
    launch = prepare("rl", [f"launch.root={tmp_path}", "launch.dryrun=true"])
    resolved = launch.run_dir / "resolved.yaml"
    assert set(yaml.safe_load(resolved.read_text())) == SHARED | {"rl", "logger"}
    assert read_job_config(resolved).rl.generations_per_prompt == launch.cfg.rl.generations_per_prompt


def test_a_job_config_carrying_another_stages_section_is_refused(tmp_path):
    raw = OmegaConf.to_container(compose("rl"), resolve=True)
    raw["train"] = {"train_iters": 10}
    (tmp_path / "resolved.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="^train: unknown key"):
        read_job_config(tmp_path / "resolved.yaml")


def test_two_stages_owning_one_section_must_agree_on_its_type():
    @dataclass
    class Other:
        x: int = 0

    others = [
        *specs(),
        StageSpec(
            name="other",
            order=1,
            summary="a stage",
            engine="python",
            payload_kind="jsonl",
            execute=print,
            sections={"rl": Other},
        ),
    ]
    with pytest.raises(TypeError, match="section rl is Other"):
        tree_sections(others)


def test_the_select_section_is_the_selection_settings_themselves():
    """Settings once: every knob of SelectionSettings is a select key (adam_eps never reached the config when the
    stage copied 16 fields by hand), and its own check is a config error naming the field."""
    from recipes.posttrain.prompt_selection.settings import SelectionSettings

    cfg = to_object(compose("select", ["select.proj_dim=64", "select.adam_eps=1e-6"]))
    knobs = cfg.select.settings("m")
    assert type(knobs) is SelectionSettings and (knobs.proj_dim, knobs.adam_eps, knobs.model) == (64, 1e-6, "m")
    with pytest.raises(ConfigError, match=r"^select.candidate_gradient='adamw': use adam"):
        to_object(compose("select", ["select.candidate_gradient=adamw"]))


def test_a_job_config_without_its_stage_is_one_line_naming_the_key(tmp_path):
    (tmp_path / "resolved.yaml").write_text("train: {train_iters: 1}\n")
    with pytest.raises(ConfigError, match=r"^stage.name: .*resolved.yaml names no stage"):
        read_job_config(tmp_path / "resolved.yaml")
