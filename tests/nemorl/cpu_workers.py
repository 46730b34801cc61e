"""CPU stand-ins for the GPU side of NeMo-RL v0.5.0 (its Ray cluster, DTensor policy workers and vLLM), so that
its own driver code (`examples/run_grpo.py` / `run_dpo.py`, `setup`, `grpo_train`, `dpo_train`, the data classes,
the environment actor, the logger, the checkpoint manager) runs unchanged on this machine.

What these prove: the driver-side contract (what the loops hand the policy and the loss, and what they read back:
the loss's metric keys, the save layout). Not the GPU workers themselves (FSDP2/TP sharding, vLLM's sampler,
weight refit over CUDA IPC), which run only on a GPU machine.

`CpuPolicy.train` follows `nemo_rl/models/policy/workers/dtensor_policy_worker.py` `train` (data-parallel size 1,
no sequence packing, no dynamic batching): global batches of `gbs` rows, the global valid sequence and token counts
from `sample_mask` / `token_mask[:, 1:]`, micro-batches of `mbs` rows through `make_microbatch_iterator`, the loss
called as `loss_fn(logits, mb, global_valid_seqs, global_valid_toks)` on temperature-scaled logits, each metric
divided by the number of global batches, `lr` / `global_valid_seqs` / `global_valid_toks` added, the micro-batch
kept only when `num_valid_samples > 0`, then gradient clipping and one optimizer step per global batch.
`get_logprobs` follows the same worker's: next-token log-probs with a 0 prepended, zero past each input length.
`CpuGeneration` samples from a copy of the same model, refitted from the policy's weights when NeMo-RL refits.
"""

from __future__ import annotations

import copy
import importlib
import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import ray
import torch
from nemo_rl.algorithms.interfaces import LossType
from nemo_rl.distributed.batched_data_dict import BatchedDataDict
from nemo_rl.utils import native_checkpoint
from transformers import AutoModelForCausalLM, GenerationConfig


class CpuCluster:
    """Takes RayVirtualCluster's arguments; holds no GPUs (the workers below run in the driver)."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.bundle_ct_per_node_list = kwargs.get("bundle_ct_per_node_list", [1])

    def world_size(self) -> int:
        return sum(self.bundle_ct_per_node_list)

    def shutdown(self) -> bool:
        return True


class _Sharding:
    """The one axis the driver asks about: data parallelism, 1 here."""

    def get_axis_size(self, name: str) -> int:
        return 1


# The weights a refit carries from the policy to the generation (CUDA IPC buffers on a GPU machine).
_REFIT: dict[str, dict[str, torch.Tensor]] = {}
CALLS: list[str] = []  # the worker methods the driver called, in order (tests read it)


def _load(model_name: str) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(model_name, torch_dtype=torch.float32, attn_implementation="eager")


def _token_logprobs(model: torch.nn.Module, input_ids: torch.Tensor, temperature: float | None) -> torch.Tensor:
    """[B, S] log-prob of token t given tokens < t, 0 at t = 0 (the DTensor worker's layout)."""
    logits = model(input_ids=input_ids, use_cache=False).logits.float()
    if temperature is not None:
        logits = logits / temperature
    picked = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return torch.cat([torch.zeros_like(picked[:, :1]), picked], dim=1)


class CpuPolicy:
    """Takes lm_policy.Policy's arguments; one in-process worker, a Hugging Face model in float32."""

    def __init__(
        self,
        cluster: Any,
        config: dict[str, Any],
        tokenizer: Any,
        processor: Any = None,
        weights_path: Any = None,
        optimizer_path: Any = None,
        init_optimizer: bool = True,
        **kwargs: Any,
    ):
        self.cfg, self.tokenizer = config, tokenizer
        self.model = _load(config["model_name"])
        self.reference_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        module, name = config["optimizer"]["name"].rsplit(".", 1)
        self.optimizer = getattr(importlib.import_module(module), name)(
            self.model.parameters(), **config["optimizer"]["kwargs"]
        )
        self.sharding_annotations = _Sharding()

    def _temperature(self) -> float | None:
        generation = self.cfg.get("generation")
        return generation["temperature"] if generation else None

    def train(
        self,
        data: BatchedDataDict,
        loss_fn: Any,
        eval_mode: bool = False,
        gbs: int | None = None,
        mbs: int | None = None,
    ) -> dict[str, Any]:
        CALLS.append("eval" if eval_mode else "train")
        gbs = gbs or self.cfg["train_global_batch_size"]
        mbs = mbs or self.cfg["train_micro_batch_size"]
        num_global_batches = data.size // gbs
        self.model.train(not eval_mode)
        losses, all_mb_metrics = [], []
        context = torch.no_grad() if eval_mode else torch.enable_grad()
        with context:
            for gb_idx in range(num_global_batches):
                batch = data.get_batch(batch_idx=gb_idx, batch_size=gbs)
                global_valid_seqs = torch.sum(batch["sample_mask"])
                if "token_mask" in batch:
                    global_valid_toks = torch.sum(batch["token_mask"][:, 1:] * batch["sample_mask"].unsqueeze(-1))
                else:
                    global_valid_toks = global_valid_seqs * batch["input_ids"].shape[1]
                if getattr(loss_fn, "loss_type", None) == LossType.TOKEN_LEVEL:
                    assert "token_mask" in batch, "token_mask must be present in the data when using token-level loss"
                self.optimizer.zero_grad()
                mb_losses = []
                for mb in itertools.islice(batch.make_microbatch_iterator(mbs), batch.size // mbs):
                    logits = self.model(input_ids=mb["input_ids"], use_cache=False).logits
                    temperature = self._temperature()
                    if temperature is not None:
                        logits = logits / temperature
                    loss, metrics = loss_fn(logits, mb, global_valid_seqs, global_valid_toks)
                    for key in metrics:
                        metrics[key] /= num_global_batches
                    num_valid_samples = metrics["num_valid_samples"]
                    metrics["lr"] = self.optimizer.param_groups[0]["lr"]
                    metrics["global_valid_seqs"] = global_valid_seqs.item()
                    metrics["global_valid_toks"] = global_valid_toks.item()
                    if not eval_mode:
                        loss.backward()
                    if num_valid_samples > 0:
                        mb_losses.append(loss.item())
                        all_mb_metrics.append(metrics)
                grad_norm = None
                if not eval_mode:
                    grad_norm = torch.tensor(
                        [
                            float(
                                torch.nn.utils.clip_grad_norm_(
                                    self.model.parameters(), self.cfg["max_grad_norm"] or float("inf")
                                )
                            )
                        ]
                    )
                    self.optimizer.step()
                losses.append(torch.tensor(mb_losses).sum().item())
            self.optimizer.zero_grad()
        merged: dict[str, list] = defaultdict(list)
        for metrics in all_mb_metrics:
            for key, value in metrics.items():
                merged[key].append(value)
        return {"loss": torch.tensor(losses), "grad_norm": grad_norm, "all_mb_metrics": dict(merged)}

    def _logprobs(self, model: torch.nn.Module, data: BatchedDataDict, micro_batch_size: int | None) -> torch.Tensor:
        size = micro_batch_size or self.cfg["logprob_batch_size"]
        parts = []
        with torch.no_grad():
            for mb in data.make_microbatch_iterator(size):
                logprobs = _token_logprobs(model, mb["input_ids"], self._temperature())
                lengths = mb["input_lengths"]
                positions = torch.arange(logprobs.shape[1]).unsqueeze(0)
                parts.append(logprobs * (positions < lengths.unsqueeze(1)))
        return torch.cat(parts)

    def get_logprobs(self, data: BatchedDataDict, micro_batch_size: int | None = None) -> BatchedDataDict:
        CALLS.append("get_logprobs")
        return BatchedDataDict({"logprobs": self._logprobs(self.model, data, micro_batch_size)})

    def get_reference_policy_logprobs(
        self, data: BatchedDataDict, micro_batch_size: int | None = None
    ) -> BatchedDataDict:
        CALLS.append("get_reference_policy_logprobs")
        return BatchedDataDict({"reference_logprobs": self._logprobs(self.reference_model, data, micro_batch_size)})

    def save_checkpoint(
        self,
        weights_path: str,
        optimizer_path: str | None = None,
        tokenizer_path: str | None = None,
        checkpointing_cfg: dict | None = None,
    ) -> None:
        """As lm_policy.Policy and its workers save: the v1 DTensor worker through NeMo-RL's own
        `native_checkpoint.save_checkpoint` (torch DCP), the v2 worker with `model_save_format: safetensors,
        save_consolidated: true` as a Hugging Face model in weights/model/consolidated/ (Automodel's layout; its
        sharded files beside it are not written here)."""
        CALLS.append("save_checkpoint")
        checkpointing_cfg = checkpointing_cfg or {}
        if not self.cfg["dtensor_cfg"].get("_v2", False):
            if checkpointing_cfg.get("model_save_format") is not None:  # lm_policy.Policy.save_checkpoint's check
                raise ValueError("model_save_format must be None or omitted if using DTensorPolicyWorker (_v2=False).")
            native_checkpoint.save_checkpoint(
                model=self.model,
                weights_path=weights_path,
                optimizer=self.optimizer if optimizer_path else None,
                optimizer_path=optimizer_path,
                tokenizer=self.tokenizer if tokenizer_path else None,
                tokenizer_path=tokenizer_path,
            )
            return
        if not (
            checkpointing_cfg.get("model_save_format") == "safetensors" and checkpointing_cfg.get("save_consolidated")
        ):
            raise NotImplementedError("the CPU policy writes the v2 worker's consolidated safetensors layout only")
        self.model.save_pretrained(Path(weights_path) / "model" / "consolidated")
        if optimizer_path:
            Path(optimizer_path).mkdir(parents=True, exist_ok=True)
            torch.save(self.optimizer.state_dict(), Path(optimizer_path) / "optimizer.pt")
        if tokenizer_path:
            self.tokenizer.save_pretrained(tokenizer_path)

    # Refit: the weights go to the generation through _REFIT (CUDA IPC on a GPU machine).
    def prepare_refit_info(self) -> dict[str, Any]:
        return {name: (p.shape, p.dtype) for name, p in self.model.state_dict().items()}

    def get_free_memory_bytes(self) -> int:
        return 1 << 30

    def stream_weights_via_ipc_zmq(self, buffer_size_bytes: int, kv_scales: Any = None) -> list:
        CALLS.append("refit")
        _REFIT["weights"] = {name: t.detach().clone() for name, t in self.model.state_dict().items()}
        return []

    def prepare_for_lp_inference(self) -> None:
        self.model.eval()

    def prepare_for_training(self, *args: Any, **kwargs: Any) -> None:
        self.model.train()

    def offload_before_refit(self) -> None:
        pass

    def offload_after_refit(self) -> None:
        pass

    def finish_training(self, *args: Any, **kwargs: Any) -> None:
        pass

    def print_node_ip_and_gpu_id(self) -> None:
        pass

    def shutdown(self) -> bool:
        return True


class CpuGeneration:
    """Takes VllmGeneration's arguments; samples from its own copy of the model, with the rendered temperature,
    stop tokens and length limits, and returns vLLM's GenerationOutputSpec (right-padded ids, per-token log-probs
    of the sampled tokens from the temperature-scaled distribution, zero over the prompt)."""

    def __init__(self, cluster: Any, config: dict[str, Any], **kwargs: Any):
        self.cfg = config
        self.model = _load(config["model_name"]).eval()

    def prepare_refit_info(self, state_dict_info: dict[str, Any]) -> None:
        missing = set(self.model.state_dict()) ^ set(state_dict_info)
        assert not missing, f"refit names differ between policy and generation: {sorted(missing)[:5]}"

    def update_weights_via_ipc_zmq(self) -> list:
        self.model.load_state_dict(_REFIT.pop("weights"))
        return [ray.put(True)]

    def generate(self, data: BatchedDataDict, greedy: bool = False) -> BatchedDataDict:
        CALLS.append("generate")
        cfg = self.cfg
        pad = cfg["_pad_token_id"]
        rows, generated, logprobs = [], [], []
        with torch.no_grad():
            for ids, length in zip(data["input_ids"], data["input_lengths"]):
                prompt = ids[: int(length)]
                budget = min(cfg["max_new_tokens"], cfg["vllm_cfg"]["max_model_len"] - len(prompt))
                tokens, token_logprobs = [], torch.zeros(0)
                if budget > 0:
                    # The full distribution at the rendered temperature (top_k 0, top_p 1: NeMo-RL's defaults).
                    settings = GenerationConfig(
                        do_sample=not greedy,
                        temperature=cfg["temperature"],
                        top_k=0,
                        top_p=1.0,
                        max_new_tokens=budget,
                        pad_token_id=pad,
                        eos_token_id=list(cfg["stop_token_ids"] or []),
                    )
                    out = self.model.generate(
                        input_ids=prompt.unsqueeze(0),
                        generation_config=settings,
                        output_logits=True,
                        return_dict_in_generate=True,
                    )
                    tokens = out.sequences[0, len(prompt) :].tolist()
                    steps = torch.stack(out.logits, dim=1)[0].float() / cfg["temperature"]
                    token_logprobs = (
                        torch.log_softmax(steps, dim=-1).gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)
                    )
                rows.append(prompt)
                generated.append(tokens)
                logprobs.append(token_logprobs)
        width = max(len(p) + len(g) for p, g in zip(rows, generated))
        output_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        output_logprobs = torch.zeros((len(rows), width))
        for i, (prompt, tokens, token_logprobs) in enumerate(zip(rows, generated, logprobs)):
            output_ids[i, : len(prompt)] = prompt
            output_ids[i, len(prompt) : len(prompt) + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            output_logprobs[i, len(prompt) : len(prompt) + len(tokens)] = token_logprobs
        return BatchedDataDict(
            {
                "output_ids": output_ids,
                "logprobs": output_logprobs,
                "generation_lengths": torch.tensor([len(g) for g in generated]),
                "unpadded_sequence_lengths": torch.tensor([len(p) + len(g) for p, g in zip(rows, generated)]),
            }
        )

    def prepare_for_generation(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def finish_generation(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def shutdown(self) -> bool:
        return True
