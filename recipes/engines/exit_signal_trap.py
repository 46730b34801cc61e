"""Install Megatron-Bridge's exit-signal trap, which Megatron-Bridge 0.3.1 builds but never installs.

With `train.exit_signal_handler` on, `GlobalState._set_signal_handler` (megatron/bridge/training/state.py, 0.3.1)
builds a `DistributedSignalHandler` (training/utils/sig_utils.py) whose flag the train loop polls each step
(`checkpoint_and_decide_exit` in training/train.py: save, then leave the loop), but nothing enters it, so no OS
handler is set and SIGTERM kills the rank outright (measured on a GPU: exit -15, the save in progress lost).
Upstream entered it after 0.3.1 (Megatron-Bridge pull request #3823). This callback enters it on every rank when
training starts, before the first step, and does nothing where Megatron-Bridge has already entered it. Before that
point the stage runner's own SIGTERM handler records the stage as stopped (nothing trained yet to save).
"""

from __future__ import annotations

from megatron.bridge.training.callbacks import Callback, CallbackContext


class ExitSignalTrap(Callback):
    def __init__(self) -> None:
        self._entered = None

    def on_train_start(self, context: CallbackContext) -> None:
        if not context.state.cfg.train.exit_signal_handler:
            return
        handler = context.state.signal_handler
        if handler.original_handler is None:  # never entered: __enter__ records the handler it replaces
            self._entered = handler.__enter__()

    def on_train_end(self, context: CallbackContext) -> None:
        if self._entered is not None:  # training is over: the stage runner's handler is back for what follows
            self._entered.release()
            self._entered = None
