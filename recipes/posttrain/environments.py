"""The SEA reward environment for NeMo-RL's GRPO: math and SEA-IFEval prompts scored in one environment.

NeMo-RL (v0.5, the pinned release) routes a whole run's data to one environment (`data.env_name`) and hands it
only each record's `output` as `metadata[i]["ground_truth"]`. So a mixed math + instruction-following run uses
one environment that decides per record: a ground truth that is an IFEval spec (`recipes.posttrain.ifeval_spec`)
is scored with `ifeval_reward` (zero for an answer in the wrong language), anything else is a math answer scored
with `math_reward`.

Everything that decides a reward is in `SeaRewardScorer` (plain Python, tested); the NeMo-RL actor around it is
built lazily, only inside the `rl` image where ray and nemo_rl exist, by `register_with_nemo_rl()`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from recipes.posttrain.ifeval_spec import IFEvalSpec, is_spec
from recipes.posttrain.rewards_ifeval import ifeval_reward
from recipes.posttrain.rewards_math import math_reward

ENV_NAME = "sea_ifeval"
ACTOR_CLASS_NAME = "SeaRewardEnvironment"
ACTOR_CLASS_FQN = f"{__name__}.{ACTOR_CLASS_NAME}"


@dataclass(frozen=True)
class ScorerConfig:
    """The rendered `env.sea_ifeval` section. all_or_nothing: IFEval's prompt-level reward (1 only when every
    instruction is followed) instead of the fraction followed."""

    all_or_nothing: bool = False


@dataclass(frozen=True)
class StepResult:
    """One environment step's per-record output, in the shapes NeMo-RL's EnvironmentReturn takes."""

    observations: list[dict[str, str]]
    rewards: torch.Tensor
    terminateds: torch.Tensor


def assistant_text(conversation: Sequence[Mapping[str, Any]]) -> str:
    """The policy's answer in a message log: its assistant turns joined (as NeMo-RL's math environment does)."""
    return "".join(str(message["content"]) for message in conversation if message["role"] == "assistant")


def _ifeval_spec(ground_truth: str) -> IFEvalSpec | None:
    if not ground_truth.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(ground_truth)
    except ValueError:
        return None
    return IFEvalSpec.from_json(ground_truth) if is_spec(data) else None


class SeaRewardScorer:
    def __init__(self, config: ScorerConfig = ScorerConfig()):
        self.config = config

    def score_one(self, response: str, ground_truth: str) -> float:
        spec = _ifeval_spec(ground_truth)
        if spec is None:
            return math_reward(response, ground_truth).reward
        return ifeval_reward(response, spec.language, spec.constraints(), self.config.all_or_nothing).reward

    def score(self, responses: Sequence[str], metadata: Sequence[Mapping[str, Any]]) -> list[float]:
        """Rewards in [0, 1], one per response; `metadata[i]["ground_truth"]` is the record's `output`."""
        if len(responses) != len(metadata):
            raise ValueError(f"{len(responses)} responses but {len(metadata)} metadata entries; one each")
        rewards = []
        for index, (response, meta) in enumerate(zip(responses, metadata)):
            if not meta or "ground_truth" not in meta:
                raise ValueError(
                    f"metadata[{index}] = {meta!r} has no 'ground_truth'; the data processor must put "
                    "the record's output there (NeMo-RL's math_hf_data_processor does)"
                )
            rewards.append(self.score_one(response, str(meta["ground_truth"])))
        return rewards

    def step(
        self, message_log_batch: Sequence[Sequence[Mapping[str, Any]]], metadata: Sequence[Mapping[str, Any]]
    ) -> StepResult:
        """What the NeMo-RL actor's `step` returns, minus its wrapping: single-turn, every episode ends here."""
        rewards = self.score([assistant_text(log) for log in message_log_batch], metadata)
        observations = [{"role": "environment", "content": f"Environment: reward {reward:.3f}"} for reward in rewards]
        return StepResult(observations, torch.tensor(rewards, dtype=torch.float32), torch.ones(len(rewards)))


def rollout_metrics(rewards: torch.Tensor, is_end: torch.Tensor) -> dict[str, float]:
    """Batch metrics; an answer cut off before its end counts as reward 0, as in NeMo-RL's math environment."""
    ended = rewards * is_end
    return {
        "accuracy": ended.mean().item(),
        "mean_reward": rewards.mean().item(),
        "fraction_of_samples_properly_ended": is_end.float().mean().item(),
        "num_problems_in_batch": int(is_end.shape[0]),
    }


@functools.cache
def _actor_class() -> type:
    import ray
    from nemo_rl.environments.interfaces import EnvironmentInterface, EnvironmentReturn

    @ray.remote  # pragma: no cover - needs ray and nemo_rl (the rl image)
    class SeaRewardEnvironment(EnvironmentInterface):
        def __init__(self, cfg: Mapping[str, Any]):
            self.scorer = SeaRewardScorer(ScorerConfig(**(cfg or {})))

        def step(self, message_log_batch, metadata):
            result = self.scorer.step(message_log_batch, metadata)
            return EnvironmentReturn(
                observations=result.observations,
                metadata=metadata,
                next_stop_strings=[None] * len(metadata),
                rewards=result.rewards,
                terminateds=result.terminateds,
                answers=None,
            )

        def global_post_process_and_metrics(self, batch):
            return batch, rollout_metrics(batch["rewards"], batch["is_end"])

    return SeaRewardEnvironment


def __getattr__(name: str) -> Any:
    """NeMo-RL's `create_env` imports the actor by its dotted name; build it then, not at import (no ray here)."""
    if name == ACTOR_CLASS_NAME:
        return _actor_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_with_nemo_rl() -> None:
    """Make `env_name: sea_ifeval` resolvable by NeMo-RL: its env registry and the actor's Python (the system
    one: the scorer needs only this repo's dependencies, installed in the rl image). Idempotent."""
    from nemo_rl.distributed.ray_actor_environment_registry import ACTOR_ENVIRONMENT_REGISTRY
    from nemo_rl.distributed.virtual_cluster import PY_EXECUTABLES
    from nemo_rl.environments.utils import ENV_REGISTRY, register_env

    ACTOR_ENVIRONMENT_REGISTRY[ACTOR_CLASS_FQN] = PY_EXECUTABLES.SYSTEM
    if ENV_NAME not in ENV_REGISTRY:
        register_env(ENV_NAME, ACTOR_CLASS_FQN)
