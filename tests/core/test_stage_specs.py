"""The stage registry: what preflight reads from it names real config keys."""

import pytest

from recipes.core.config import to_object
from recipes.core.stage_specs import SPECS
from recipes.stages import compose


@pytest.mark.parametrize("stage", [name for name, spec in SPECS.items() if spec.input_paths])
def test_every_input_path_key_is_a_config_key(stage):
    cfg = to_object(compose(stage, []))
    for key in SPECS[stage].input_paths:
        section, name = key.split(".")
        assert hasattr(getattr(cfg, section), name), f"{stage}: {key} is no config key"


def test_input_paths_of_the_stages_that_read_files():
    """By hand from what each stage opens: clair its prompts, apo its pairs, select its pool and target sets,
    sft/cpt the pretrained checkpoint and the blend (sft also packed data), release the text checkpoint."""
    assert SPECS["clair"].input_paths == ("clair.prompts",)
    assert SPECS["apo"].input_paths == ("apo.pairs",)
    assert set(SPECS["select"].input_paths) == {"select.candidates", "select.targets"}
    assert {"checkpoint.pretrained_checkpoint", "dataset.blend"} <= set(SPECS["cpt"].input_paths)
    assert {"dataset.packed_data", "model.hf_text_checkpoint"} <= set(SPECS["sft"].input_paths)
    assert SPECS["release"].input_paths == ("model.hf_text_checkpoint",)
