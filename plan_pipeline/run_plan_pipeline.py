"""Run a plan as a Luigi pipeline: one task per stage, one numbered output file per stage.

Like PlanExe's ``run_plan_pipeline.py``: outputs go to a run directory (``--run-dir``, else the
``RUN_ID_DIR`` environment variable, else a new ``run/<plan>-<timestamp>``); running again with
the same run directory resumes, because a stage whose output file exists is complete. Luigi's
local scheduler is the default; ``--scheduler-url`` points at a shared ``luigid``.

Tasks may run in worker processes, so a failing task leaves a failure record in the run
directory (``.planexe/failures/<stage>.json``); the driver reads those back and reports them.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import luigi

from plan_pipeline.errors import PlanPipelineError, RunDirError
from plan_pipeline.files import write_atomic
from plan_pipeline.interrupts import stop_if_interrupted
from plan_pipeline.plan import LoadedPlan, load_plan
from plan_pipeline.progress import Progress
from plan_pipeline.resolver import PluginResolver
from plan_pipeline.run_records import stage_finished
from plan_pipeline.stage_runner import run_stage
from plan_pipeline.synthesis import SynthesisMode
from plan_pipeline.usage import check_hub_setup, configured_reporter

STATE_DIR = ".planexe"
LOG_FILE = "log.txt"
_LOGGERS = ("luigi", "luigi-interface", "luigi.scheduler", "planexe")
log = logging.getLogger("planexe")


@dataclass(frozen=True)
class RunSettings:
    """One pipeline run."""

    plan_file: Path
    run_dir: Path
    mode: SynthesisMode = SynthesisMode.SUGGEST
    workers: int = 1
    scheduler_url: str | None = None


@dataclass
class RunSummary:
    """What a run did; ``failures`` is empty when every stage completed."""

    plan: LoadedPlan
    run_dir: Path
    completed: list[str] = field(default_factory=list)
    failures: list[RunFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and len(self.completed) == len(self.plan.plan.stages)


class RunFailure(PlanPipelineError):
    """A stage failure read back from its failure record."""

    def __init__(self, stage: str, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.stage = stage
        self.exit_code = exit_code


def default_run_dir(plan: LoadedPlan, environ: dict[str, str] | None = None) -> Path:
    """``RUN_ID_DIR`` if set, else ``run/<plan>-<UTC timestamp>`` under the current folder."""
    env = os.environ if environ is None else environ
    if env.get("RUN_ID_DIR"):
        return Path(env["RUN_ID_DIR"])
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return Path("run") / f"{plan.plan.name}-{stamp}"


def prepare_run_dir(run_dir: Path) -> Path:
    """Create the run directory if needed and prove it is writable (a real write, not access())."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / STATE_DIR / "failures").mkdir(parents=True, exist_ok=True)
        probe = run_dir / STATE_DIR / f".probe-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RunDirError(
            f"run directory {run_dir} is not writable: {reason}",
            "Pass --run-dir (or set RUN_ID_DIR) to a folder you can write",
        ) from None
    return run_dir.resolve()


# -- per-process state (tasks may run in forked worker processes) ---------------------------


@cache
def _context(plan_file: str, run_dir: str, mode: str) -> tuple[LoadedPlan, PluginResolver]:
    plan = load_plan(plan_file)
    root = Path(run_dir)
    progress = Progress.for_run(root)
    resolver = PluginResolver.for_run(root, SynthesisMode(mode), on_event=progress.note)
    atexit.register(resolver.registry.close)
    return plan, resolver


def _failure_path(run_dir: Path, stage: str) -> Path:
    return run_dir / STATE_DIR / "failures" / f"{stage}.json"


class StageTask(luigi.Task):
    """One plan stage; complete when its numbered output file exists."""

    plan_file = luigi.Parameter()
    run_dir = luigi.Parameter()
    stage_name = luigi.Parameter()
    mode = luigi.Parameter(default=SynthesisMode.SUGGEST.value)

    def _plan(self) -> LoadedPlan:
        return _context(self.plan_file, self.run_dir, self.mode)[0]

    def requires(self) -> list[StageTask]:
        stage = self._plan().stages[self.stage_name]
        return [
            StageTask(plan_file=self.plan_file, run_dir=self.run_dir, stage_name=up, mode=self.mode)
            for up in stage.upstream()
        ]

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(
            str(Path(self.run_dir) / self._plan().output_name(self.stage_name))
        )

    def run(self) -> None:
        stop_if_interrupted()  # after Ctrl-C no stage starts (Luigi goes on asking)
        plan, resolver = _context(self.plan_file, self.run_dir, self.mode)
        root = Path(self.run_dir)
        stage = plan.stages[self.stage_name]
        progress = Progress.for_run(root)
        failure_file = _failure_path(root, self.stage_name)
        failure_file.unlink(missing_ok=True)
        reporter = configured_reporter()
        started = time.perf_counter()
        try:
            result = run_stage(plan, stage, root, root.name, resolver)
        except PlanPipelineError as exc:
            _record_failure(failure_file, self.stage_name, str(exc), exc.exit_code)
            log.info("stage %s failed: %s", self.stage_name, exc, exc_info=True)
            elapsed = time.perf_counter() - started
            stage_finished(root, stage, resolver, None, elapsed, exc, reporter)
            raise
        except Exception as exc:
            message = (
                f"stage '{self.stage_name}': internal error {type(exc).__name__}: {exc} "
                f"(traceback in {root / LOG_FILE})"
            )
            _record_failure(failure_file, self.stage_name, message, 1)
            log.error("stage %s crashed:\n%s", self.stage_name, traceback.format_exc())
            raise
        stage_finished(root, stage, resolver, result, result.seconds, None, reporter)
        index, total = plan.index_of(stage.name), len(plan.plan.stages)
        progress.stage_done(index, total, stage.name, stage.capability, result)


def _record_failure(path: Path, stage: str, message: str, exit_code: int) -> None:
    record = {"stage": stage, "message": message, "exit_code": exit_code}
    write_atomic(path, json.dumps(record))


def _configure_logging(run_dir: Path) -> None:
    """Send Luigi's and the pipeline's log records to ``log.txt``, never to the terminal."""
    config = luigi.configuration.get_config()
    if not config.has_section("core"):
        config.add_section("core")
    config.set("core", "no_configure_logging", "true")
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    )
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if isinstance(old, logging.FileHandler):
                logger.removeHandler(old)
                old.close()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def run_pipeline(settings: RunSettings, progress: Progress | None = None) -> RunSummary:
    """Run (or resume) every stage of the plan; never raises for stage failures.

    Plan and run-directory problems raise ``PlanPipelineError`` before anything runs. Stage
    failures come back in ``RunSummary.failures``; completed outputs stay on disk.
    """
    started = time.perf_counter()
    plan = load_plan(settings.plan_file)
    run_dir = prepare_run_dir(settings.run_dir)
    configured_reporter.cache_clear()
    # a misconfigured hub fails here, before any stage
    check_hub_setup(settings.mode is SynthesisMode.PUBLISH)
    progress = progress or Progress.for_run(run_dir)
    _configure_logging(run_dir)
    for stale in (run_dir / STATE_DIR / "failures").glob("*.json"):
        stale.unlink()
    stages = plan.plan.stages
    total = len(stages)
    progress.start(plan, run_dir, settings.mode.value)
    for index, stage in enumerate(stages, start=1):
        if (run_dir / plan.output_name(stage.name)).exists():
            progress.stage_skipped(index, total, stage.name, plan.output_name(stage.name))
    _context.cache_clear()
    tasks = [
        StageTask(
            plan_file=str(plan.path),
            run_dir=str(run_dir),
            stage_name=name,
            mode=settings.mode.value,
        )
        for name in plan.downstream_leaves()
    ]
    build_options: dict[str, Any] = {
        "workers": settings.workers,
        "detailed_summary": True,
    }
    if settings.scheduler_url:
        build_options["scheduler_url"] = settings.scheduler_url
    else:
        build_options["local_scheduler"] = True
    luigi.build(tasks, **build_options)
    summary = RunSummary(plan, run_dir, seconds=time.perf_counter() - started)
    summary.completed = [s.name for s in stages if (run_dir / plan.output_name(s.name)).exists()]
    for stage in stages:
        record = _failure_path(run_dir, stage.name)
        if record.exists():
            data = json.loads(record.read_text(encoding="utf-8"))
            summary.failures.append(RunFailure(stage.name, data["message"], data["exit_code"]))
    if not summary.ok and not summary.failures:
        missing = [s.name for s in stages if s.name not in summary.completed]
        summary.failures.append(
            RunFailure(
                missing[0],
                f"the scheduler did not run stage(s) {', '.join(missing)}; "
                f"see {run_dir / LOG_FILE}",
                1,
            )
        )
    return summary


def main(argv: list[str] | None = None) -> None:
    """``python -m plan_pipeline.run_plan_pipeline PLAN [options]``: same as ``plugin-hub run``."""
    from plan_pipeline.cli import main as cli_main

    cli_main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
