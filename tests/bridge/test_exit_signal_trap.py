"""SIGTERM during training reaches Megatron-Bridge's exit decision instead of killing the rank (CPU, .venv-bridge).

Megatron-Bridge 0.3.1 builds a DistributedSignalHandler and never enters it (megatron/bridge/training/state.py):
a real SIGTERM then killed the cpt worker on a GPU (exit -15, no save). Here the real GlobalState, the real handler
take a real os.kill; the test reads the flag that Bridge's train loop polls every step before it saves and leaves
the loop (`any(state.signal_handler.signals_received())`, `checkpoint_and_decide_exit` in training/train.py, which
imports modelopt and nvidia_resiliency_ext, absent here). Not run on a GPU yet: the save-and-exit in real training."""

from __future__ import annotations

import os
import signal

import pytest

# Megatron-Bridge lives in .venv-bridge: collected but skipped in the main venv
pytest.importorskip("megatron.bridge", reason="needs Megatron-Bridge (.venv-bridge)")
from megatron.bridge.training.callbacks import CallbackContext  # noqa: E402
from megatron.bridge.training.state import GlobalState  # noqa: E402

from recipes.core.config import to_object  # noqa: E402
from recipes.engines.bridge_config import build_config_container  # noqa: E402
from recipes.engines.exit_signal_trap import ExitSignalTrap  # noqa: E402
from recipes.stages import compose

SMOKE_CPT = ["checkpoint.pretrained_checkpoint=null", "dataset.mock=true"]


@pytest.fixture
def state(tmp_path):
    """What `pretrain` builds first (training/pretrain.py, 0.3.1): a GlobalState given the config."""
    container = build_config_container(to_object(compose("cpt", SMOKE_CPT)), tmp_path / "run", stage="cpt")
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a fresh worker process
    state = GlobalState()
    state.cfg = container
    yield state
    signal.signal(signal.SIGTERM, previous)


def test_bridge_0_3_1_leaves_sigterm_untrapped(state):
    assert state.cfg.train.exit_signal_handler and state.signal_handler.sig == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # SIGTERM would kill the process


def test_the_trap_turns_sigterm_into_bridges_save_and_exit(state):
    trap = ExitSignalTrap()
    trap.on_train_start(CallbackContext(state=state, model=[]))
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "not trapped: the kill below would end pytest"
    assert state.signal_handler.signals_received() == [False]  # no signal yet: train on
    os.kill(os.getpid(), signal.SIGTERM)
    assert state.signal_handler.signals_received() == [True]  # one process, no process group: its own flag
    trap.on_train_end(CallbackContext(state=state, model=[]))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # what was there before training is back


def test_the_trap_does_nothing_where_bridge_entered_the_handler_itself(state):
    """Megatron-Bridge after 0.3.1 enters it (pull request #3823): entering twice would make its release restore
    its own handler."""
    state.signal_handler.__enter__()
    installed = signal.getsignal(signal.SIGTERM)
    trap = ExitSignalTrap()
    trap.on_train_start(CallbackContext(state=state, model=[]))
    trap.on_train_end(CallbackContext(state=state, model=[]))
    assert signal.getsignal(signal.SIGTERM) is installed and state.signal_handler.original_handler is signal.SIG_DFL
    state.signal_handler.release()


def test_the_trap_is_off_with_exit_signal_handler_off(state):
    state.cfg.train.exit_signal_handler = False
    ExitSignalTrap().on_train_start(CallbackContext(state=state, model=[]))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
