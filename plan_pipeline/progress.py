"""Progress lines for a pipeline run: one line per stage, printed as it happens.

Lines go to standard output (standard error with ``PLANEXE_PROGRESS_STREAM=stderr``; tasks in
worker processes print their own) and to the run's ``log.txt``. Rich markup adds colour on a
terminal and degrades to plain text elsewhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from plan_pipeline.plan import LoadedPlan
    from plan_pipeline.usage import StageResult

log = logging.getLogger("planexe")

PROGRESS_STREAM_ENV = "PLANEXE_PROGRESS_STREAM"
"""``stderr``: progress lines go to standard error (``plugin-hub run --json`` sets it, so the
run's worker processes follow it too)."""


class Progress:
    """Prints progress for one run."""

    def __init__(self, run_dir: Path, console: Console | None = None) -> None:
        self.run_dir = run_dir
        stderr = os.environ.get(PROGRESS_STREAM_ENV) == "stderr"
        self.console = console or Console(highlight=False, soft_wrap=True, stderr=stderr)

    @classmethod
    def for_run(cls, run_dir: Path) -> Progress:
        return cls(run_dir)

    def _say(self, markup: str, plain: str) -> None:
        self.console.print(markup)
        log.info(plain)

    def start(self, plan: LoadedPlan, run_dir: Path, mode: str) -> None:
        total = len(plan.plan.stages)
        plain = f"plan {plan.plan.name}: {total} stages, run dir {run_dir}, synthesis {mode}"
        self._say(f"[bold]{escape(plain)}[/]", plain)

    def stage_skipped(self, index: int, total: int, stage: str, output: str) -> None:
        plain = f"[{index}/{total}] {stage}: done earlier ({output})"
        self._say(f"[dim]{escape(plain)}[/]", plain)

    def stage_done(
        self, index: int, total: int, stage: str, capability: str, result: StageResult
    ) -> None:
        ms = result.seconds * 1000
        plain = (
            f"[{index}/{total}] {stage}: ok in {ms:.0f} ms ({capability} from {result.provider})"
            f" -> {result.output.name}"
        )
        self._say(f"[green]{escape(plain)}[/]", plain)

    def note(self, message: str) -> None:
        self._say(f"[yellow]{escape(message)}[/]", message)
