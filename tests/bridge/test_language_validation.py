"""Per-language validation (recipes/engines/language_validation.py) against Megatron-Bridge 0.3.1 and megatron-core on
CPU, over the smoke data prep artifact (the sample corpus in 12 languages, real Gemma 3 tokens). The callback's
evaluation itself needs a model on a GPU and is not run here."""

from __future__ import annotations

import inspect
import os
import subprocess
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from recipes.core.config import to_object
from recipes.engines.bridge_config import build_config_container
from recipes.stages import compose

# the module subclasses Megatron-Bridge's Callback: collected but skipped in the main venv
language_validation = pytest.importorskip(
    "recipes.engines.language_validation", reason="needs Megatron-Bridge (.venv-bridge)"
)
language_blends = language_validation.language_blends
language_validation_sets = language_validation.language_validation_sets
tagged_forward_step = language_validation.tagged_forward_step

REPO = Path(__file__).resolve().parents[2]
MAIN_PYTHON = REPO / ".venv" / "bin" / "python"


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    """(Gemma 3 fixture dir, blend.json) of a real smoke data_prep run, made with the main venv."""
    if not MAIN_PYTHON.exists():
        pytest.skip("needs the main venv (.venv, built by tests/run.sh) to run the data_prep stage")
    env = {**os.environ, "PATH": f"{MAIN_PYTHON.parent}:{os.environ['PATH']}"}
    fixture = subprocess.run(
        [str(MAIN_PYTHON), "-m", "recipes.gemma3_fixture"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    root = tmp_path_factory.mktemp("runs")
    subprocess.run(
        [str(MAIN_PYTHON), "-m", "recipes.data_prep", f"launch.root={root}"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return fixture, root / "smoke" / "data_prep" / "artifact" / "blend.json"


def _dataset_config(smoke_data, tmp_path, split: str, sequence_length: int = 16):
    fixture, blend = smoke_data
    cfg = to_object(
        compose(
            "cpt",
            [
                f"dataset.blend={blend}",
                f"dataset.sequence_length={sequence_length}",
                f"dataset.split='{split}'",
                "train.eval_iters=2",
                f"data.tokenizer={fixture}",
                f"model.hf_id={fixture}",
            ],
        )
    )
    container = build_config_container(cfg, tmp_path / "run", stage="cpt")
    container.dataset.finalize()  # what validate() does before training
    return container.dataset


def test_each_language_is_the_validation_cut_bridge_makes_of_the_blend(smoke_data, tmp_path):
    from megatron.bridge.data.utils import pretrain_train_valid_test_datasets_provider

    config = _dataset_config(smoke_data, tmp_path, "50,50,0")
    blends = language_blends(smoke_data[1])
    assert set(blends) == {"code", "en", "zh", "id", "ms", "th", "vi", "tl", "ta", "my", "km", "lo"}
    sets = language_validation_sets(config, blends, num_samples=8)
    train, valid, _ = pretrain_train_valid_test_datasets_provider([8, 8, 0], config)
    prefixes = list(config.blend[0])
    for lang, dataset in sets.items():
        (prefix,) = blends[lang]
        i = prefixes.index(prefix)
        assert len(dataset) >= 8  # at least the asked-for sequences, from this language's validation documents
        assert np.array_equal(dataset.indices, valid.datasets[i].indices), lang  # Bridge's own validation cut
        assert not set(dataset.indices) & set(train.datasets[i].indices), lang  # never trained on
        assert dataset.sample_index.shape[1] == 2 and dataset.config.sequence_length == 16


def test_a_language_without_a_validation_sequence_is_refused_before_building(smoke_data, tmp_path):
    config = _dataset_config(smoke_data, tmp_path, "50,50,0", sequence_length=512)
    with pytest.raises(
        ValueError,
        match=r"dataset.split=50,50,0: the validation documents of language 'code' "
        r"hold \d+ tokens, less than one sequence of 512",
    ):
        language_validation_sets(config, language_blends(smoke_data[1]), num_samples=8)


def test_a_blend_part_without_validation_documents_is_refused_at_job_start(smoke_data):
    from recipes.engines.bridge_config import BridgeConfigError, check_validation_split, read_blend

    fixture, blend = smoke_data
    prefixes = read_blend(blend)[0]

    def cfg(*overrides):
        return to_object(
            compose(
                "cpt", [f"dataset.blend={blend}", f"data.tokenizer={fixture}", f"model.hf_id={fixture}", *overrides]
            )
        )

    # 4 documents per part: a 1% share rounds to none of them, and megatron-core would wait for them forever
    with pytest.raises(
        BridgeConfigError,
        match=r"dataset.split=99,1,0: the validation cut of 12 of 12 blend parts "
        r"is empty \(sample_code__code, .*train.eval_iters=0",
    ):
        check_validation_split(cfg("dataset.split='99,1,0'", "train.eval_iters=2"), prefixes)
    check_validation_split(cfg("dataset.split='50,50,0'", "train.eval_iters=2"), prefixes)  # 2 of 4 held out
    check_validation_split(cfg("dataset.split='99,1,0'", "train.eval_iters=0"), prefixes)  # nothing to draw
    check_validation_split(cfg("dataset.split='100,0,0'", "train.eval_iters=2"), prefixes)  # no validation set


def test_tagged_forward_step_reports_bridges_loss_under_the_language(tmp_path):
    from megatron.bridge.training.losses import masked_next_token_loss

    losses = torch.tensor([[2.0, 1.0, 4.0, 3.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0]])

    def bridge_like_step(state, data_iterator, model, return_schedule_plan=False):
        # what Bridge's gpt_step returns (its module needs modelopt, absent here): the masked next-token loss
        return losses, partial(masked_next_token_loss, mask, check_for_nan_in_loss=False, check_for_spiky_loss=False)

    step = tagged_forward_step(bridge_like_step, "th")
    # Bridge passes the GlobalState to a forward step whose first parameter is `state` (train_utils'
    # needs_global_state_injection; that module needs tensorboard, absent here)
    assert list(inspect.signature(step).parameters)[:3] == ["state", "data_iterator", "model"]
    output, loss_func = step(None, None, None)
    loss, num_tokens, report = loss_func(output)
    assert float(loss) == 6.0 and int(num_tokens) == 3
    assert list(report) == ["lm loss [th]"]
    assert report["lm loss [th]"].tolist() == [6.0, 3.0]


def test_a_blend_without_languages_names_the_switch(tmp_path):
    blend = tmp_path / "blend.json"
    blend.write_text('{"blend": [["/data/x"], [1.0]]}')
    with pytest.raises(ValueError, match="dataset.validation_per_language"):
        language_blends(blend)
