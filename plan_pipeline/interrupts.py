"""Ctrl-C for commands that run stages.

The command line installs ``on_sigint``: it notes the interrupt and raises ``Interrupted``, a
``BaseException`` of its own, so Click does not turn it into "Aborted!" and every ``finally``
on the way out still runs (sandboxed workers stop, claims are released). Luigi's worker catches
what a stage raises and goes on with the next stage, so every stage checks
``stop_if_interrupted`` before it starts: after one Ctrl-C nothing new runs, no synthesis
starts, and the command exits 130.
"""

from __future__ import annotations

import signal

_noted: list[int] = []


class Interrupted(BaseException):
    """The user pressed Ctrl-C (SIGINT)."""


def on_sigint(signum: int, _frame: object) -> None:
    _noted.append(signum)
    raise Interrupted


def install() -> None:
    """Handle SIGINT with ``on_sigint`` (not when it is ignored: a background job's), and
    SIGTERM alike where nothing else handles it: Luigi ends its worker processes with SIGTERM
    when the run stops, and they inherit this, so their ``finally`` blocks run too."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigint)


def interrupted() -> bool:
    return bool(_noted)


def stop_if_interrupted() -> None:
    """Raise ``Interrupted`` when Ctrl-C came: a stage that has not started does not."""
    if _noted:
        raise Interrupted
