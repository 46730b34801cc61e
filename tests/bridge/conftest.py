"""Megatron-Bridge 0.3.1 config tests: run with .venv-bridge (tests/bridge_env.sh); skipped where it is absent.

Megatron-Bridge imports Transformer Engine unconditionally, and Transformer Engine needs CUDA. For building configs
on CPU a stand-in `transformer_engine` goes into the import system, AFTER megatron-core's TE-aware submodules are
imported: megatron-core probes for TE at import time, and a stand-in seen then makes it take the TE code paths and
fail. The stand-in hands out placeholder classes and submodules for any name; no test may build a model with it.
It lives only here, never in the product code.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

import pytest

HAVE_BRIDGE = (
    importlib.util.find_spec("megatron") is not None and importlib.util.find_spec("megatron.bridge") is not None
)
HERE = Path(__file__).resolve().parent

MEGATRON_CORE_FIRST = (
    "megatron.core",
    "megatron.core.models.gpt",
    "megatron.core.transformer",
    "megatron.core.fp8_utils",
    "megatron.core.optimizer",
)


class _StandinModule(types.ModuleType):
    """Any lowercase attribute is a submodule, any other a placeholder class: enough for import-time references."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = (
            _StandinModule(f"{self.__name__}.{name}")
            if name[0].islower()
            else type(name, (), {"__init__": lambda self, *args, **kwargs: None})
        )
        setattr(self, name, value)
        return value


class _TransformerEngineStandin(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "transformer_engine" or fullname.startswith("transformer_engine."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StandinModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _install_transformer_engine_standin() -> None:
    if importlib.util.find_spec("transformer_engine") is not None and "transformer_engine" not in sys.modules:
        return  # a real Transformer Engine (GPU machine): use it
    for name in MEGATRON_CORE_FIRST:
        importlib.import_module(name)
    if not any(isinstance(f, _TransformerEngineStandin) for f in sys.meta_path):
        sys.meta_path.insert(0, _TransformerEngineStandin())


if HAVE_BRIDGE:
    _install_transformer_engine_standin()


def pytest_collection_modifyitems(config, items):
    if HAVE_BRIDGE:
        return
    skip = pytest.mark.skip(
        reason="needs Megatron-Bridge: bash tests/bridge_env.sh && .venv-bridge/bin/python -m pytest tests/bridge"
    )
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_world_size(monkeypatch):
    """Each test sets WORLD_SIZE itself: ConfigContainer.validate() derives data parallelism from it."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.fixture
def transformer_engine_2_20(monkeypatch):
    """What megatron-core's OptimizerConfig checks of Transformer Engine for the precision-aware optimizer
    (megatron/core/optimizer/optimizer_config.py, core_v0.16.1): its version, and FusedAdam's keywords, which TE
    2.20.2 (the train image's) has (transformer_engine/pytorch/optimizers/fused_adam.py, v2.20); and, for RoPE
    fusion, that TE's fused RoPE imported (megatron/core/models/common/embeddings/rope_utils.py)."""
    import importlib

    from megatron.core.models.common.embeddings import rope_utils
    from megatron.core.optimizer import optimizer_config

    class FusedAdam:
        def __init__(
            self, params, master_weight_dtype=None, exp_avg_dtype=None, exp_avg_sq_dtype=None, use_decoupled_grad=False
        ):
            pass

    monkeypatch.setattr(optimizer_config, "is_te_min_version", lambda version: True)
    monkeypatch.setattr(rope_utils, "fused_apply_rotary_pos_emb", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        importlib.import_module("transformer_engine.pytorch.optimizers"), "FusedAdam", FusedAdam, raising=False
    )
