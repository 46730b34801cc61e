"""What the loss classes share with NeMo-RL: its `LossType` enum and a check of the batch's keys.

NeMo-RL's trainers compare `loss_fn.loss_type` with their own enum, so inside the NeMo-RL container the real enum
is used; elsewhere an enum with the same members and values stands in."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

try:  # v0.5.0: nemo_rl/algorithms/interfaces.py (v0.6.0 moved it to nemo_rl/algorithms/loss/interfaces.py)
    from nemo_rl.algorithms.interfaces import LossType
except ImportError:

    class LossType(enum.Enum):  # type: ignore[no-redef]
        TOKEN_LEVEL = "token_level"
        SEQUENCE_LEVEL = "sequence_level"


def require_keys(data: Mapping[str, Any], keys: tuple[str, ...], loss_name: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise KeyError(f"{loss_name}: the batch lacks {missing}; the trainer must put them in the BatchedDataDict")
