"""PlanExe stages backed by a capability: ``CapabilityTask`` and the pre-flight check.

A PlanExe stage is a ``PlanTask``: a ``luigi.Task`` with the parameters ``run_id_dir``,
``speedvsdetail`` and ``llm_models`` that reads its upstream files through ``self.input()``
(mostly ``{'raw': ...json, 'markdown': ...md}`` pairs) and writes the same pair. Mixing
``CapabilityTask`` in before ``PlanTask`` makes a stage run a plugin instead of an LLM::

    class RiskScoresTask(CapabilityTask, PlanTask):
        capability = "risk.score_matrix"
        version = ">=1.0,<2"
        contract = load_contract(CONTRACTS / "risk_scores.yaml")
        plugin_inputs = {"risks": From("identify_risks", select="risks")}

        def requires(self):
            return {"identify_risks": self.clone(IdentifyRisksTask)}

        def output(self):
            return {"raw": self.local_target(RISK_SCORES_RAW),
                    "markdown": self.local_target(RISK_SCORES_MARKDOWN)}

The plugin's output is written as the raw JSON, and its ``markdown`` field as the markdown
file. A missing capability is handled by the synthesis mode in ``PLANEXE_SYNTHESIS`` (default
``suggest``) against the hub in ``PLANEXE_HUB_*``; the error PlanExe shows names the stage, the
capability, the spec file and the command that continues. ``preflight(root_task)`` finds every
missing capability of a pipeline before any stage runs (and spends LLM money).
"""

from __future__ import annotations

import contextlib
import html
import inspect
import json
import logging
import os
import re
import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import luigi
import luigi.task
import luigi.task_register

from plan_pipeline.contract import CapabilityNeed, Contract
from plan_pipeline.errors import (
    CapabilityNotFoundError,
    PlanPipelineError,
    StageInputError,
    StageOutputError,
    SynthesisStop,
)
from plan_pipeline.files import read_regular, write_atomic
from plan_pipeline.host_stages import (
    RUN_MODE_FILE,
    SYNTHESIS_ENV,
    CapabilityTaskError,
    HostStopRequested,
    stage_need,
    synthesis_mode,
)
from plan_pipeline.host_stages import load_contract as load_contract  # for the stages' modules
from plan_pipeline.interrupts import stop_if_interrupted
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.resolver import (
    MissGuide,
    PluginResolver,
    activate_run_plugins,
    hub_ranked_registry,
)
from plan_pipeline.run_records import read_records, stage_finished
from plan_pipeline.spec import draft_spec, write_spec
from plan_pipeline.stage_runner import run_capability, select
from plan_pipeline.synthesis import SynthesisMode
from plan_pipeline.usage import StageResult, check_hub_setup, configured_reporter

PIPELINE_MODULE = "worker_plan_internal.plan.run_plan_pipeline"
"""The module that runs (and resumes) PlanExe's pipeline; named in "continue with" hints."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class From:
    """A plugin input read from one of the task's requirements.

    ``requirement`` is a key of ``requires()``; ``part`` picks ``raw`` or ``markdown`` of a
    target pair (ignored for a single target); ``select`` is a dotted path into the JSON.
    """

    requirement: str
    part: str = "raw"
    select: str | None = None


@dataclass(frozen=True)
class Value:
    """A literal plugin input, e.g. a rate the stage is configured with."""

    value: Any


def host_task(name: str) -> Any:
    """The host pipeline's Luigi task class registered as ``name`` (PlanExe's ``PlanTask``,
    ``IdentifyRisksTask``...), whichever module defined it (``python -m`` runs it as
    ``__main__``)."""
    try:
        return luigi.task_register.Register.get_task_cls(name)  # type: ignore[no-untyped-call]
    except luigi.task_register.TaskClassException as exc:
        raise CapabilityTaskError(
            f"no single Luigi task class named '{name}' is defined: {' '.join(str(exc).split())}",
            "Import the capability stages after the pipeline module defines its tasks",
        ) from None


class CapabilityTask:
    """Mixin for a ``PlanTask`` whose work is done by the plugin for ``capability``.

    Put it before ``PlanTask`` in the bases: it replaces ``PlanTask.run()``, so a failure is
    this project's one-line error, not "Failed to run X with any of the LLMs". The task's
    docstring is what the stage is for, in its author's words: a contract without a
    ``description`` takes it (the first thing an LLM backend's prompt says).
    """

    capability: ClassVar[str]
    version: ClassVar[str | None] = None
    contract: ClassVar[Contract | None] = None
    plugin_inputs: ClassVar[dict[str, From | Value]] = {}
    """Plugin input name -> where it comes from; empty: every requirement's raw JSON."""
    markdown_field: ClassVar[str] = "markdown"
    """The output field written as the markdown file of the task's output pair."""
    pipeline_module: ClassVar[str] = PIPELINE_MODULE
    _need: ClassVar[CapabilityNeed]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        runner = next(klass for klass in cls.__mro__ if "run" in vars(klass))
        if not issubclass(runner, CapabilityTask):
            raise CapabilityTaskError(
                f"{cls.__name__}: {runner.__name__}.run() comes before CapabilityTask.run()",
                f"Put CapabilityTask first in the bases: class {cls.__name__}(CapabilityTask, "
                f"{runner.__name__})",
            )
        if not isinstance(getattr(cls, "capability", None), str):
            raise CapabilityTaskError(
                f"{cls.__name__} declares no capability",
                "Set capability = 'area.name' on the class",
            )
        words = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
        fix = "Fix the class attributes of the task"
        cls._need = stage_need(cls.__name__, cls.capability, cls.version, cls.contract, words, fix)

    @classmethod
    def need(cls) -> CapabilityNeed:
        return cls._need

    if TYPE_CHECKING:  # what PlanTask and the stage provide
        run_id_dir: Any

        def input(self) -> Any: ...

        def output(self) -> Any: ...

    # -- what the task does -----------------------------------------------------------------

    def run(self) -> None:
        stop_if_interrupted()
        run_dir = _run_dir(self)
        need = self.need()
        started = time.perf_counter()
        host = _HostCallback(self, started)
        try:
            self._run(run_dir, need, started, host)
        except HostStopRequested as stop:
            write_atomic(run_dir / STOP_FLAG, "")  # what PlanExe's PlanTask.run() does on a stop
            log.warning("%s: stopped at the host's request", need.name)
            raise stop.cause from None

    def _run(
        self, run_dir: Path, need: CapabilityNeed, started: float, host: _HostCallback
    ) -> None:
        host.ask()  # a stop asked for before the stage starts skips it
        mode = synthesis_mode(run_dir=run_dir)
        resolver = _resolver(str(run_dir), mode.value, os.getpid())
        reporter = configured_reporter()
        failed = failure_path(self)
        try:
            inputs = self.read_plugin_inputs()
            guide = replace(self.miss_guide(run_dir), on_progress=host.ask)
            loaded = resolver.resolve(need, inputs, guide)
            context = {"run_id": run_dir.name, "stage": need.name, "capability": need.capability}
            output, text = run_capability(need, loaded, inputs, context, self._text_field())
            raw_path = self._write(output, text)
        except PlanPipelineError as exc:
            log.error("%s", exc)
            elapsed = time.perf_counter() - started
            stage_finished(run_dir, need, resolver, None, elapsed, exc, reporter)
            _write_failure(failed, exc)
            host.tell()  # the host's progress, after the failure as after a success
            raise
        except HostStopRequested as stop:
            elapsed = time.perf_counter() - started
            stopped = RuntimeError(f"stopped at the host's request: {stop}")
            stage_finished(run_dir, need, resolver, None, elapsed, stopped, reporter)
            _write_failure(failed, SynthesisStop(f"stage '{need.name}' was stopped", None))
            raise
        failed.unlink(missing_ok=True)
        chosen = loaded.selection.chosen
        result = StageResult(
            need.name, raw_path, time.perf_counter() - started, chosen.dist_name, chosen.version,
            markdown=self._markdown_path(),
        )  # fmt: skip
        log.info("%s: %s ran %s", need.name, need.capability, result.provider)
        stage_finished(run_dir, need, resolver, result, result.seconds, None, reporter)
        host.tell()  # the stage is done: a stop asked for now applies to the stages after it

    def on_failure(self, exception: BaseException) -> str:
        """What Luigi records and shows for a failure: this project's one line, no traceback."""
        if isinstance(exception, HostStopRequested):
            exception = exception.cause
        if isinstance(exception, PlanPipelineError):
            return str(exception)
        parent = super()
        handler = getattr(parent, "on_failure", None)
        return str(handler(exception)) if handler is not None else str(exception)

    def read_plugin_inputs(self) -> dict[str, Any]:
        """The plugin's inputs, read from the requirements' files (``plugin_inputs``)."""
        targets = self.input()
        sources: dict[str, From | Value] = dict(self.plugin_inputs) or {
            name: From(name) for name in (targets if isinstance(targets, dict) else {})
        }
        return {name: self._read_input(name, src, targets) for name, src in sources.items()}

    def _read_input(self, name: str, source: From | Value, targets: Any) -> Any:
        if isinstance(source, Value):
            return source.value
        need = self.need()
        if not isinstance(targets, dict) or source.requirement not in targets:
            known = ", ".join(targets) if isinstance(targets, dict) else "(none)"
            raise CapabilityTaskError(
                f"{need.name}: plugin input '{name}' reads requirement "
                f"'{source.requirement}', which requires() does not return",
                f"Use one of: {known}",
            )
        target = targets[source.requirement]
        if isinstance(target, dict):
            if source.part not in target:
                raise CapabilityTaskError(
                    f"{need.name}: requirement '{source.requirement}' has no '{source.part}' "
                    "output",
                    f"Use one of: {', '.join(target)}",
                )
            target = target[source.part]
        path = Path(target.path)
        try:
            text = path.read_text(encoding="utf-8")
            value: Any = json.loads(text) if path.suffix == ".json" else text
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StageInputError(
                f"stage '{need.name}' input '{name}': cannot read {path.name}: {exc}",
                "Fix or delete that file and rerun",
            ) from None
        if source.select:
            value = select(
                value, source.select, need, name, path.name,
                fix=f"Fix From({source.requirement!r}, select=...) in {need.name}",
            )  # fmt: skip
        return value

    def _markdown_path(self) -> Path | None:
        targets = self.output()
        if isinstance(targets, dict) and "markdown" in targets:
            return Path(targets["markdown"].path)
        return None

    def _text_field(self) -> str | None:
        targets = self.output()
        return self.markdown_field if isinstance(targets, dict) and "markdown" in targets else None

    def _write(self, output: dict[str, Any], text: str | None) -> Path:
        targets = self.output()
        raw = _raw_target(self)
        try:
            if isinstance(targets, dict) and "markdown" in targets and text is not None:
                with targets["markdown"].open("w") as handle:  # luigi writes it atomically
                    handle.write(text)
            with raw.open("w") as handle:
                handle.write(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise StageOutputError(
                f"stage '{self.need().name}': cannot write {Path(raw.path).name}: "
                f"{exc.strerror or exc}",
                "Check that the run directory is writable; earlier outputs are kept",
            ) from None
        return Path(raw.path)

    # -- what a user is told about a missing capability -------------------------------------

    def miss_guide(self, run_dir: Path) -> MissGuide:
        """The spec file beside the raw output, and PlanExe's resume command as the hint."""
        module = self.pipeline_module

        def continue_with(mode: SynthesisMode) -> str:
            return (
                f"{SYNTHESIS_ENV}={mode.value} RUN_ID_DIR={shlex.quote(str(run_dir))} "
                f"python -m {module} (or, through the worker API, write {mode.value} into "
                f"{shlex.quote(str(run_dir / RUN_MODE_FILE))} and retry the run)"
            )

        return MissGuide(
            spec_path=spec_path(self),
            continue_with=continue_with,
            provenance={"pipeline": module, "task": self.need().name},
            input_sources=self._input_sources(),
        )

    def _input_sources(self) -> dict[str, str]:
        """Each ``From`` input as ``requirement 'x' (its file)``, for messages."""
        targets = self.input()
        sources = {}
        for name, source in self.plugin_inputs.items():
            if isinstance(source, From):
                target = targets.get(source.requirement) if isinstance(targets, dict) else None
                if isinstance(target, dict):
                    target = target.get(source.part)
                path = getattr(target, "path", None)
                where = f"requirement '{source.requirement}'"
                sources[name] = where + (f" ({Path(path).name})" if path else "")
        return sources


def _raw_target(task: CapabilityTask) -> Any:
    targets = task.output()
    if isinstance(targets, dict) and "raw" not in targets:
        raise CapabilityTaskError(
            f"{task.need().name}: output() has no 'raw' target",
            "Return {'raw': ..., 'markdown': ...} or a single target",
        )
    return targets["raw"] if isinstance(targets, dict) else targets


class _HostCallback:
    """PlanExe's progress and stop callback (``_pipeline_executor_callback``, which PlanExe
    hands every task and calls after each LLM attempt), asked before a capability stage, at
    each line of its recovery (a synthesis included) and when it ends. What the callback raises
    (PlanExe's ``PipelineStopRequested``) becomes ``HostStopRequested``; it is asked only from
    the stage's own thread, never from a synthesizer's helper threads."""

    def __init__(self, task: CapabilityTask, started: float) -> None:
        self._task = task
        self._started = started
        self._thread = threading.current_thread()

    def ask(self, _line: str | None = None) -> None:
        """Tell the host how far the stage got; ``HostStopRequested`` when it asks to stop."""
        callback = getattr(self._task, "_pipeline_executor_callback", None)
        if not callable(callback) or threading.current_thread() is not self._thread:
            return
        try:
            callback(self._task, time.perf_counter() - self._started)
        except Exception as exc:
            raise HostStopRequested(exc) from None

    def tell(self) -> None:
        """Tell the host the stage ended; a stop it asks for now is for the stages after this
        one, which ask before they start (this stage's outcome stands)."""
        with contextlib.suppress(HostStopRequested):
            self.ask()


STOP_FLAG = "pipeline_stop_requested.txt"
"""The file PlanExe's ``PlanTask.run()`` touches when a stop was requested."""


def failure_path(task: CapabilityTask) -> Path:
    """Where a failed capability stage says why, beside its outputs (a host's file list shows
    it): ``003-3-risk_scores_raw.json`` -> ``003-3-risk_scores.stage-failed.txt``."""
    return spec_path(task).with_name(
        spec_path(task).name.replace(".plugin-spec.json", ".stage-failed.txt")
    )


def _write_failure(path: Path, error: PlanPipelineError) -> None:
    try:
        write_atomic(path, f"{error}\n")
    except OSError:
        log.warning("cannot write %s", path)


class ReportSections(Protocol):
    """What ``capability_report`` uses of PlanExe's ``ReportGenerator``."""

    def append_markdown(self, document_title: str, file_path: Path) -> None: ...


def capability_report(report: ReportSections, run_dir: str | Path) -> list[str]:
    """Add the capability stages of a run to PlanExe's HTML report, from ``ReportTask``::

        capability_report(rg, self.run_id_dir)

    Each capability stage that ran appends its markdown output; one that failed appends its
    failure (what went wrong and the command that continues). A plugin's markdown is a
    stranger's text and PlanExe's report renders markdown with its HTML: every section is
    appended as a copy with ``<``, ``>`` and ``&`` escaped. Only files directly in the run
    directory are read, never through a link. The titles added, in order."""
    folder = Path(str(run_dir)).resolve()
    shown = folder / REPORT_DIR
    added = []
    for record in read_records(folder):
        if not _SAFE_NAME.match(record.stage):
            continue  # a record a stage of this project did not write
        title = f"{record.stage} ({record.capability})"
        if record.ok and record.markdown:
            text = _plain_file(folder, record.markdown)
            if text is None:
                continue
        elif not record.ok:
            text, title = f"**This stage failed.** {record.error or ''}\n", f"{title}: failed"
        else:
            continue
        path = shown / f"{record.stage}.md"
        try:
            shown.mkdir(parents=True, exist_ok=True)
            write_atomic(path, html.escape(text, quote=False))
        except OSError as exc:
            raise CapabilityTaskError(
                f"cannot write {path}: {exc.strerror or exc}", "Check the run directory"
            ) from None
        report.append_markdown(title, path)
        added.append(title)
    return added


REPORT_DIR = Path(".planexe") / "report"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


def _plain_file(folder: Path, name: str) -> str | None:
    """The text of the regular file ``name`` directly in ``folder``, opened without following
    a link; ``None`` for anything else."""
    if not _SAFE_NAME.match(name) or ".." in name:
        return None
    try:
        data, _status = read_regular(folder / name, MAX_REPORT_BYTES)
    except OSError:
        return None
    return data.decode("utf-8", "replace")


MAX_REPORT_BYTES = 1024 * 1024
"""The most of one stage's markdown shown in the report."""


def spec_path(task: CapabilityTask) -> Path:
    """The raw output's file with ``.plugin-spec.json`` for ``_raw.json``:
    ``003-3-risk_scores_raw.json`` -> ``003-3-risk_scores.plugin-spec.json``, in its folder."""
    raw = Path(_raw_target(task).path)
    stem = raw.name.removesuffix(".json")
    stem = stem.removesuffix("_raw") if stem.endswith("_raw") else f"{stem}.raw"
    return raw.parent.resolve() / f"{stem}.plugin-spec.json"


@cache
def _resolver(run_dir: str, mode: str, pid: int) -> PluginResolver:
    """One resolver per process (Luigi workers are forked processes) and run directory."""
    del pid  # part of the cache key only: a forked worker must not reuse its parent's
    return PluginResolver.for_run(Path(run_dir), SynthesisMode(mode), on_event=log.info)


# -- pre-flight ------------------------------------------------------------------------------


class MissingCapabilitiesError(SynthesisStop):
    """The pre-flight check found capabilities that no installed plugin provides (one line
    each)."""

    listing = True


@dataclass(frozen=True)
class Gap:
    """A capability-backed task whose capability no installed plugin provides."""

    task: CapabilityTask
    problem: str
    spec_path: Path


def capability_tasks(root: luigi.Task) -> Iterator[CapabilityTask]:
    """Every capability-backed task that ``root`` needs and that is not complete yet."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        task = stack.pop()
        if task.task_id in seen:
            continue
        seen.add(task.task_id)
        if task.complete():  # type: ignore[no-untyped-call]
            continue
        if isinstance(task, CapabilityTask):
            yield task
        stack.extend(luigi.task.flatten(task.requires()))  # type: ignore[no-untyped-call]


def find_gaps(root: luigi.Task, registry: CapabilityRegistry | None = None) -> list[Gap]:
    """The missing capabilities of ``root``'s pipeline, from installed metadata only (the
    environment's plugins and the run's own, from an earlier dry-run)."""
    tasks = list(capability_tasks(root))
    for task in tasks:
        activate_run_plugins(_run_dir(task))
    registry = registry or hub_ranked_registry()
    gaps: list[Gap] = []
    for task in tasks:
        need = task.need()
        try:
            registry.select(need.capability, need.version)
        except CapabilityNotFoundError as miss:
            found = CapabilityNotFoundError(
                miss.capability, miss.version, miss.excluded, stage=need.name
            )
            gaps.append(Gap(task, found.problem, spec_path(task)))
    return sorted(gaps, key=lambda gap: gap.task.need().name)


def _root_run_dir(root: luigi.Task) -> Path | None:
    folder = getattr(root, "run_id_dir", None)
    return Path(str(folder)).resolve() if folder is not None else None


def _run_dir(task: CapabilityTask) -> Path:
    return Path(task.run_id_dir).resolve()


def preflight(root: luigi.Task, mode: SynthesisMode | None = None) -> list[Gap]:
    """Check ``root``'s pipeline for missing capabilities before any stage runs (and, first,
    the hub's set-up: its files, its address and, in ``publish``, its token).

    In the ``off`` and ``suggest`` modes a gap stops the run here, with one error listing
    every gap (``suggest`` first writes each spec, from the contract). In ``dry-run`` and
    ``publish`` the gaps are logged and returned: they are filled when their stage runs.
    """
    mode = mode or synthesis_mode(run_dir=_root_run_dir(root))
    check_hub_setup(mode is SynthesisMode.PUBLISH)
    gaps = find_gaps(root)
    if not gaps:
        return []
    lines = [f"  - {gap.problem}" for gap in gaps]
    if mode is SynthesisMode.SUGGEST:
        for gap in gaps:
            gap.spec_path.parent.mkdir(parents=True, exist_ok=True)
            need = gap.task.need()
            spec = draft_spec(need, {}, provenance={"task": need.name, "check": "preflight"})
            write_spec(spec, gap.spec_path)
        lines = [f"  - {gap.problem} (spec: {gap.spec_path})" for gap in gaps]
    if mode in (SynthesisMode.OFF, SynthesisMode.SUGGEST):
        next_mode = (
            SynthesisMode.DRY_RUN if mode is SynthesisMode.SUGGEST else SynthesisMode.SUGGEST
        )
        guide = gaps[0].task.miss_guide(_run_dir(gaps[0].task))
        for gap in gaps:  # each gap's reason where a host's file list shows it
            _write_failure(
                failure_path(gap.task),
                SynthesisStop(gap.problem, f"Continue with: {guide.continue_with(next_mode)}"),
            )
        raise MissingCapabilitiesError(
            f"{len(gaps)} missing capabilit{'y' if len(gaps) == 1 else 'ies'} found before any "
            "stage ran:\n" + "\n".join(lines),
            f"Install plugins that provide them, or continue with: "
            f"{guide.continue_with(next_mode)}",
        )
    for line in lines:
        log.warning(
            "pre-flight: %s; %s synthesizes it when its stage runs",
            line.removeprefix("  - "),
            mode.value,
        )
    return gaps
