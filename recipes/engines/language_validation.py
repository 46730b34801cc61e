"""Per-language validation during CPT, the blog's training-time signal.

At every evaluation (train.eval_interval), after Megatron-Bridge's blended validation, the validation split of each
language's data is evaluated on its own, and its loss and perplexity are logged as `lm loss [<lang>]` (job log,
TensorBoard, W&B). Megatron-Bridge 0.3.1 evaluates one blended validation set, so this is a Bridge `Callback`
(`on_eval_end`) that runs Bridge's own `evaluate_and_print_results` once per language, with Bridge's forward step
whose reported loss keys carry the language. A language's set is its prefixes in data prep's blend.json, cut by
dataset.split exactly as Bridge cuts the blend (same builder, same config), so no held-out document is trained on.
Switched by dataset.validation_per_language; the callback has not yet run on a GPU in this repo.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from megatron.bridge.training.callbacks import Callback

from recipes.engines.bridge_config import validation_tokens


def language_blends(blend_json: str | Path) -> dict[str, list[str]]:
    """{language: its prefixes} from data prep's blend.json, in blend order."""
    entries = json.loads(Path(blend_json).read_text()).get("entries")
    if not entries:
        raise ValueError(
            f"dataset.validation_per_language: {blend_json} lists no entries with a language; rerun "
            "data_prep.blend, or set dataset.validation_per_language=false"
        )
    blends: dict[str, list[str]] = {}
    for entry in entries:
        blends.setdefault(entry["lang"], []).append(entry["prefix"])
    return blends


def language_validation_sets(dataset_config: Any, blends: dict[str, list[str]], num_samples: int) -> dict[str, Any]:
    """Each language's validation split (megatron-core GPTDatasets), built as Bridge builds the blended one.

    A language whose validation documents hold less than one sequence is refused first: megatron-core would loop
    forever trying to draw `num_samples` sequences from nothing."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset

    sets = {}
    for lang, prefixes in blends.items():
        tokens = sum(validation_tokens(prefix, dataset_config.split_matrix) for prefix in prefixes)
        if tokens <= dataset_config.sequence_length:
            raise ValueError(
                f"dataset.split={dataset_config.split}: the validation documents of language {lang!r} "
                f"hold {tokens} tokens, less than one sequence of {dataset_config.sequence_length}; give "
                "validation a larger share or set dataset.validation_per_language=false"
            )
        config = copy.copy(dataset_config)
        config.blend, config.blend_per_split = (prefixes, None), None
        sets[lang] = BlendedMegatronDatasetBuilder(GPTDataset, [None, num_samples, None], lambda: True, config).build()[
            1
        ]
    return sets


def tagged_forward_step(forward_step: Callable, lang: str) -> Callable:
    """Bridge's forward step, with `[lang]` appended to the loss keys it reports (`lm loss` -> `lm loss [th]`)."""

    def step(state, data_iterator, model, *args, **kwargs):
        output, loss_func = forward_step(state, data_iterator, model, *args, **kwargs)

        def tagged_loss(*loss_args, **loss_kwargs):
            loss, num_tokens, report = loss_func(*loss_args, **loss_kwargs)
            return loss, num_tokens, {f"{key} [{lang}]": value for key, value in report.items()}

        return output, tagged_loss

    return step


class LanguageValidation(Callback):
    """Evaluates every language's validation split after each of Bridge's evaluations."""

    def __init__(self, blends: dict[str, list[str]], forward_step: Callable):
        self.blends = blends
        self.forward_step = forward_step
        self.iterators: dict[str, Any] = {}

    def on_train_start(self, context) -> None:
        import torch.distributed as dist
        from megatron.bridge.data.samplers import build_pretraining_data_loader
        from megatron.bridge.training.utils.pg_utils import get_pg_collection
        from megatron.core.rerun_state_machine import RerunDataIterator

        cfg = context.state.cfg
        dp_group = get_pg_collection(context.model).dp  # the group Bridge's own loaders shard over
        sets = language_validation_sets(cfg.dataset, self.blends, cfg.train.eval_iters * cfg.train.global_batch_size)
        for lang, dataset in sets.items():
            loader = build_pretraining_data_loader(
                dataset,
                0,
                "cyclic",
                cfg.train.micro_batch_size,
                cfg.dataset.num_workers,
                cfg.dataset.data_sharding,
                pin_memory=cfg.dataset.pin_memory,
                data_parallel_rank=dist.get_rank(group=dp_group),
                data_parallel_size=dist.get_world_size(group=dp_group),
                global_batch_size=cfg.train.global_batch_size,
            )
            self.iterators[lang] = RerunDataIterator(iter(loader))

    def on_eval_end(self, context) -> None:
        from megatron.bridge.training.eval import evaluate_and_print_results

        step = context.state.train_state.step
        for lang, iterator in self.iterators.items():
            # no callback manager: this evaluation must not fire on_eval_end (and itself) again
            evaluate_and_print_results(
                context.state,
                f"iteration {step} [{lang}]",
                tagged_forward_step(self.forward_step, lang),
                iterator,
                context.model,
                context.state.cfg,
            )
