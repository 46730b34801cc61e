"""Linux's PR_SET_PDEATHSIG: a process asks for a signal when its parent dies, so that no job or worker outlives
the process that waits for it (a SIGKILLed launcher or stage runner cannot clean up after itself)."""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def signal_on_parent_death(sig: int = signal.SIGTERM) -> None:
    """Call in the child (a Popen preexec_fn, a pool initializer); a no-op off Linux."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
