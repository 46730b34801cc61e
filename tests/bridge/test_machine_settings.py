"""What a machine other than the NeMo image needs from Megatron-Bridge 0.3.1: the attention kernel chosen from the
config (flash-attn may be absent), the speed levers under megatron-core's own names, and a start-up that does not
exit where megatron-core came from its wheel (compiled dataset helpers, no Makefile)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from recipes.core.config import to_object
from recipes.engines.bridge_config import BridgeConfigError, build_config_container, use_prebuilt_dataset_helpers
from recipes.stages import compose


def _container(tmp_path, overrides=()):
    cfg = to_object(
        compose(
            "cpt",
            [
                "experiment=gemma3_27b_proxy",
                "dataset.mock=true",
                "cluster.gpus_per_node=1",
                "model.hf_id=google/gemma-3-27b-it",
                "data.tokenizer=google/gemma-3-27b-it",
                *overrides,
            ],
        )
    )
    return build_config_container(cfg, tmp_path, stage="cpt")


@pytest.mark.parametrize("name", ["flash", "fused", "unfused", "auto"])
def test_attention_backend_reaches_the_provider(name, tmp_path):
    from megatron.core.transformer.enums import AttnBackend

    provider = _container(tmp_path, [f"model.attention_backend={name}"]).model
    assert provider.attention_backend is AttnBackend[name]


def test_the_default_attention_backend_is_auto_not_the_providers_flash(tmp_path):
    from megatron.bridge.models.gemma import Gemma3ModelProvider27B
    from megatron.core.transformer.enums import AttnBackend

    assert Gemma3ModelProvider27B().attention_backend is AttnBackend.flash  # what a wheel install could not run
    assert _container(tmp_path).model.attention_backend is AttnBackend.auto


def test_an_unknown_attention_backend_names_the_field(tmp_path):
    with pytest.raises(BridgeConfigError, match=r"model.attention_backend: 'cudnn' is not one of flash, fused"):
        _container(tmp_path, ["model.attention_backend=cudnn"])


def test_speed_levers_map_to_megatron_names_and_pass_validate(tmp_path, monkeypatch, transformer_engine_2_20):
    from megatron.bridge.training.config import runtime_config_update
    from megatron.core.transformer.enums import CudaGraphScope

    container = _container(
        tmp_path,
        [
            "model.cross_entropy_loss_fusion=true",
            "model.cross_entropy_fusion_impl=te",
            "model.gradient_accumulation_fusion=true",
            "model.apply_rope_fusion=true",
            "model.cuda_graph_impl=transformer_engine",
            "model.cuda_graph_scope=[attn,mlp]",
            "optimizer.use_precision_aware_optimizer=true",
        ],
    )
    monkeypatch.setenv("WORLD_SIZE", "1")
    container.validate()
    runtime_config_update(container)
    m = container.model
    assert (
        m.cross_entropy_loss_fusion,
        m.cross_entropy_fusion_impl,
        m.gradient_accumulation_fusion,
        m.apply_rope_fusion,
        m.cuda_graph_impl,
    ) == (True, "te", True, True, "transformer_engine")
    assert m.cuda_graph_scope == [CudaGraphScope.attn, CudaGraphScope.mlp]  # megatron-core parsed our strings
    assert container.optimizer.use_precision_aware_optimizer is True


def test_speed_levers_default_to_the_providers_values(tmp_path):
    from megatron.bridge.models.gemma import Gemma3ModelProvider27B

    reference, ours = Gemma3ModelProvider27B(), _container(tmp_path).model
    for name in (
        "cross_entropy_loss_fusion",
        "cross_entropy_fusion_impl",
        "gradient_accumulation_fusion",
        "apply_rope_fusion",
        "cuda_graph_impl",
    ):
        assert getattr(ours, name) == getattr(reference, name), name


@pytest.fixture
def restore_initialize():
    import megatron.bridge.training.initialize as initialize

    original = initialize.compile_helpers
    yield initialize
    initialize.compile_helpers = original


def test_wheel_megatron_core_starts_without_a_datasets_makefile(restore_initialize):
    from megatron.core.datasets import utils

    datasets = Path(utils.__file__).parent
    assert not (datasets / "Makefile").exists() and list(datasets.glob("helpers_cpp*.so"))  # the wheel's layout
    with pytest.raises(SystemExit):  # what Bridge's start-up ran before: make fails, the job exits
        restore_initialize.compile_helpers()
    use_prebuilt_dataset_helpers()
    restore_initialize.compile_helpers()  # the compiled helpers import: no exit


def test_a_source_install_still_builds_its_helpers(restore_initialize, tmp_path, monkeypatch):
    from megatron.core.datasets import utils

    (tmp_path / "Makefile").write_text("all:\n\ttouch built\n")
    monkeypatch.setattr(utils, "__file__", str(tmp_path / "utils.py"))
    use_prebuilt_dataset_helpers()
    restore_initialize.compile_helpers()
    assert (tmp_path / "built").exists()
    subprocess.run(["make", "--version"], check=True, capture_output=True)
