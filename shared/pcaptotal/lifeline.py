"""A child process's tie to the service that started it (standard library only: children
that must start fast import it)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Be killed when the worker dies (a SIGKILLed worker's message goes to another worker,
    which does the work again: this child's would be wasted)."""
    with contextlib.suppress(OSError, AttributeError):  # libc's symbols are the program's
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)
