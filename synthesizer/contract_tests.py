"""The contract-test gate: a trusted harness checks the plugin, which runs in a sandboxed worker.

The plugin's code runs only in a ``PluginWorker`` (bubblewrap, no network, nothing of the host
to read). The harness runs here, outside it: it asks the worker to describe the capability,
sends it the spec's golden inputs and inputs that Hypothesis generates from the input schema,
and checks every answer itself: plain JSON, the output schema, every constraint, and the
expected output of a golden example. Only the answers to the harness's own requests count, so
nothing the plugin writes, prints or exits with can turn a failure into a pass.

Speed: hypothesis-jsonschema builds the strategy of an object's property values again at
every draw (canonicalising the subschema, compiling its validators); during a gate those
strategies are memoized by subschema, which leaves the examples drawn exactly as they were.
A failing property is shrunk for at most ``SHRINK_CALLS`` calls or ``SHRINK_SECONDS``, and the
smallest failing input seen is reported: Hypothesis alone may shrink for minutes.

``ForkedHarness`` runs this same harness in a forked child of the synthesizer's process,
started before the plugin is generated: the child imports Hypothesis, starts the sandboxed
worker and the constraint evaluator while the parent renders, checks and builds, then runs
the gate on the wheel it is handed and sends back the ``GateResult``. Hypothesis is imported
only where a gate runs.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata as metadata
import json
import os
import random
import select
import signal
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plan_pipeline.contract import Example
from plan_pipeline.errors import ContractLanguageError, PluginRunError, PluginWorkerError, one_line
from plan_pipeline.hookspecs import ENTRY_POINT_GROUP
from plan_pipeline.plugin_worker import PluginWorker, PrestartedWorker, WorkerPlugin
from plan_pipeline.sandbox import Sandbox, SandboxLimits
from plan_pipeline.spec import PluginSpec
from synthesizer.errors import BuildError
from synthesizer.plan_magnitudes import (
    PLAN_MAGNITUDE,
    PLAN_YEARS,
    largest_number,
    within_plan_magnitudes,
)
from synthesizer.report import Finding, GateResult, timed
from synthesizer.shown_values import shown

if TYPE_CHECKING:
    from plan_pipeline.contract_check import ContractCheck

_MAX_FINDINGS = 20
_MAX_MESSAGE = 6000
_RANDOM = random.SystemRandom()
"""Where the gate's seeds and the goldens' places come from (the operating system's)."""
OPENING_DRAWS = 8
"""The first property draws, sent to the plugin in a random order (not shrunk on failure)."""
SHRINK_CALLS = 200
"""Calls of the plugin spent shrinking a failing property, at most."""
SHRINK_SECONDS = 1.0
"""Time spent shrinking a failing property, at most (checked before each call)."""
GATE_SECONDS = 120.0
"""Time a gate's checks may take; no call of the plugin starts after it (a plugin that
answers each call just within its wall limit would otherwise hold the gate for hours)."""


# -- memoized strategies -------------------------------------------------------------------

_MEMO = threading.local()


def _memoized(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` (a strategy builder of hypothesis-jsonschema taking a schema, or a list of
    them, and keyword arguments), answered from this thread's memo while one is open."""

    def builder(schema: Any, **kwargs: Any) -> Any:
        table: dict[tuple[Any, ...], Any] | None = getattr(_MEMO, "table", None)
        if table is None:
            return original(schema, **kwargs)
        try:
            text = json.dumps(schema, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):
            return original(schema, **kwargs)
        options = tuple(sorted((name, id(value)) for name, value in kwargs.items()))
        key = (original.__name__, text, options)
        if key not in table:
            table[key] = (original(schema, **kwargs), tuple(kwargs.values()))
        return table[key][0]

    builder.__name__ = original.__name__
    return builder


@cache
def _install_memo() -> None:
    """Put the memo in front of hypothesis-jsonschema's two builders (its own functions call
    them by their global names); it answers only inside ``_memoized_strategies``."""
    import hypothesis_jsonschema._from_schema as hjs

    setattr(hjs, "__from_schema", _memoized(getattr(hjs, "__from_schema")))
    hjs.merged_as_strategies = _memoized(hjs.merged_as_strategies)


@contextmanager
def _memoized_strategies() -> Iterator[None]:
    """Within the block (in this thread) a schema's strategy is built once. The memo keeps the
    keyword arguments alive, so their ids in its keys stay unique; it ends with the block."""
    _install_memo()
    _MEMO.table = {}
    try:
        yield
    finally:
        _MEMO.table = None


class _ShrinkBudgetSpent(BaseException):
    """Raised in the property test to end Hypothesis' shrinking (not an ``Exception``, so
    Hypothesis does not take it for another failure)."""


class _GateBudgetSpent(BaseException):
    """Raised when a call would start after ``GATE_SECONDS``: it ends the gate at once (not an
    ``Exception``, so neither Hypothesis nor a golden example takes it for a failure)."""


def check_member_paths(archive: zipfile.ZipFile, name: str, root: Path) -> None:
    """Refuse an archive with a member that would land outside ``root`` (absolute, ``..``,
    or through a symbolic link already in ``root``)."""
    for member in archive.namelist():
        dest = (root / member).resolve()
        if not dest.is_relative_to(root) or member.startswith("/"):
            raise BuildError(f"wheel {name} has an unsafe member path {member!r}")


def unpack_wheel(wheel: Path, target: Path) -> Path:
    """Unpack a pure-Python wheel (what installing it does), refusing unsafe member paths."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(wheel) as archive:
        check_member_paths(archive, wheel.name, root)
        archive.extractall(root)
    return root


@cache
def warm_hypothesis_storage() -> Path:
    """Hypothesis' home folder, with its Unicode tables computed.

    Hypothesis computes those tables on first use (about 1 s) and keeps them in its home
    folder: one per user, so later syntheses start warm. Only Hypothesis runs here.
    """
    from hypothesis.configuration import set_hypothesis_home_dir
    from hypothesis.internal.charmap import charmap, intervals_from_codec

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "planexe-plugin-hub" / "hypothesis"
    folder.mkdir(parents=True, exist_ok=True)
    set_hypothesis_home_dir(str(folder))
    charmap()
    intervals_from_codec("utf-8")
    return folder


def wheel_plugin(site: Path, capability: str) -> WorkerPlugin:
    """The plugin of an unpacked wheel: its entry point for ``capability``, read as data."""
    infos = list(site.glob("*.dist-info"))
    if len(infos) != 1:
        raise BuildError(f"the wheel has {len(infos)} .dist-info folders, not one")
    dist = metadata.PathDistribution(infos[0])
    targets = [
        ep.value
        for ep in dist.entry_points
        if ep.group == ENTRY_POINT_GROUP and ep.name == capability
    ]
    if len(targets) != 1:
        raise BuildError(
            f"the wheel declares {len(targets)} '{ENTRY_POINT_GROUP}' entry points for "
            f"'{capability}', not one"
        )
    return WorkerPlugin.from_distribution(dist, targets[0])


def _plausible_run_id() -> str:
    return f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


@dataclass
class _Harness:
    spec: PluginSpec
    worker: PluginWorker
    check: ContractCheck
    findings: list[Finding] = field(default_factory=list)
    checks: int = 0
    fatal: PluginWorkerError | None = None
    run_id: str = field(default_factory=_plausible_run_id)
    """Shaped like a pipeline's run id, so the plugin cannot tell the gate by its context."""
    started: float = field(default_factory=time.monotonic)
    extra: list[Example] = field(default_factory=list)
    """The code generator's own golden examples, checked like the spec's."""
    seed: int = field(default_factory=lambda: _RANDOM.getrandbits(64))
    """The property test's seed: drawn anew for each gate, so nobody knows its inputs in
    advance; a failure names it."""
    goldens_at: dict[int, list[tuple[str, Example]]] = field(default_factory=dict)
    """The golden examples due before each property call (by the call's number)."""
    generated: int = 0
    """The property calls made so far (shrinking not counted)."""
    bounded: list[str] = field(default_factory=list)
    """The input numbers the spec leaves unbounded, drawn within a plan's magnitudes."""

    def fail(self, rule: str, message: str) -> None:
        """A finding; its values are bounded where they are shown (``shown``), the whole
        message only as a last resort."""
        if len(self.findings) < _MAX_FINDINGS:
            self.findings.append(Finding(rule=rule, message=message[:_MAX_MESSAGE]))

    def run(self, inputs: dict[str, Any]) -> Any:
        """The plugin's output for ``inputs``; once the worker died, every call fails alike."""
        if self.fatal is not None:
            raise self.fatal
        if time.monotonic() - self.started > GATE_SECONDS:
            raise _GateBudgetSpent
        context = {
            "run_id": self.run_id,
            "stage": self.spec.stage_name,
            "capability": self.spec.capability,
        }
        try:
            return self.worker.run(self.spec.capability, inputs, context)
        except PluginRunError:
            raise
        except PluginWorkerError as exc:
            self.fatal = exc
            raise

    def describe(self) -> None:
        self.checks += 1
        capability = self.spec.capability
        described = self.worker.describe(capability)
        if not isinstance(described, dict):
            self.fail("describe", f"planexe_describe does not describe '{capability}'")
            return
        for key in ("input_schema", "output_schema"):
            if described.get(key) != getattr(self.spec, key):
                self.fail("describe", f"planexe_describe gives another {key} than the spec")
        if self.worker.describe("other.capability") is not None:
            self.fail("describe", "planexe_describe answers for a capability it does not have")

    def schedule_goldens(self, generated: int) -> None:
        """Place every golden example (the spec's and the generator's) at a random call among
        the ``generated`` property calls, never before the first: a plugin cannot tell the
        gate by its first input, or by where the goldens come, and must answer every call
        of one warm worker as production calls it."""
        numbered = [(f"example {n}", e) for n, e in enumerate(self.spec.examples, start=1)]
        numbered += [(f"generator's example {n}", e) for n, e in enumerate(self.extra, start=1)]
        self.goldens_at = {}
        for label, example in numbered:
            name = label + (f" ({example.note})" if example.note else "")
            self.checks += 1
            input_problem = self.check.input_problem(example.input)
            if input_problem is not None:
                self.fail("spec", f"{name}: the input breaks the input schema {input_problem}")
                continue
            at = _RANDOM.randint(2, max(2, generated))
            self.goldens_at.setdefault(at, []).append((name, example))

    def goldens_due(self, call: int | None = None) -> None:
        """Run the golden examples placed at property call ``call`` (every one left when
        ``None``: the property test drew fewer inputs, or stopped at a failure)."""
        due = sorted(self.goldens_at) if call is None else [call]
        for at in due:
            for name, example in self.goldens_at.pop(at, []):
                self.golden(name, example)

    def golden(self, name: str, example: Example) -> None:
        try:
            output = self.run(example.input)
        except (PluginRunError, PluginWorkerError) as exc:
            self.fail("test-error", f"{name}: {exc.problem}")
            return
        for problem in self.check.problems(example.input, output):
            self.fail("test-failure", f"{name}: {problem}")
        if example.output is not None and not _same(output, example.output):
            expected, got = shown(example.output), shown(output)
            self.fail("test-failure", f"{name}: expected {expected}, got {got}")

    def properties(self, examples: int) -> None:
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
        from hypothesis.errors import HypothesisException
        from hypothesis_jsonschema import from_schema

        warm_hypothesis_storage()
        smallest: list[tuple[int, str, str]] = []  # (size of the input, rule, message)
        shrinking: list[float] = []  # when the first failure was seen
        calls_after = [0]

        bounded, self.bounded = within_plan_magnitudes(self.spec.input_schema)
        schema = self.spec.input_schema

        def failed(inputs: dict[str, Any], rule: str, problem: str, shrink: bool = True) -> None:
            if "Out of range float values" in problem:  # inf or nan: the spec's finding
                rule, problem = "spec", _overflow(inputs, schema, problem)
            elif _OUTSIDE_CALENDAR in problem:  # a date past 9999: the spec's finding too
                rule, problem = "spec", _overflow(inputs, schema, problem, _NO_SUCH_DATE)
            size = len(json.dumps(inputs))
            if shrink and not shrinking:
                shrinking.append(time.monotonic())
            if not smallest or size <= smallest[0][0]:
                where = f"property test (seed {self.seed})"
                if rule == "spec":  # what to change first: the input may be long
                    message = f"{where}: {problem}; input {shown(inputs, 600)}"
                else:
                    message = f"{where}: input {shown(inputs, 1000)}: {problem}"
                smallest[:] = [(size, rule, message)]

        opening: list[dict[str, Any]] = []

        def judge(inputs: dict[str, Any], shrink: bool = True) -> bool:
            """Whether the plugin's answer for ``inputs`` follows the contract (a failure is
            noted for the report; ``shrink``: and Hypothesis shrinks it)."""
            try:
                output = self.run(inputs)
            except (PluginRunError, PluginWorkerError) as exc:
                failed(inputs, "test-error", exc.problem, shrink)
                return False
            found = self.check.problems(inputs, output)
            if found:
                failed(inputs, "test-failure", found[0], shrink)
            return not found

        def send_opening() -> None:
            """The first draws, in a random order with the goldens due among them: Hypothesis
            draws the simplest input first, which no plugin may take for a gate's sign. A
            failure here is reported as drawn; the draws after it go on, and the first of them
            that fails is shrunk."""
            drawn, opening[:] = opening[:], []
            _RANDOM.shuffle(drawn)
            for number, inputs in enumerate(drawn, start=1):
                self.goldens_due(number)
                judge(inputs, shrink=False)

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
        )
        @seed(self.seed)
        @given(inputs=from_schema(bounded))
        def follows_the_contract(inputs: dict[str, Any]) -> None:
            if shrinking:
                calls_after[0] += 1
                spent = time.monotonic() - shrinking[0]
                if calls_after[0] > SHRINK_CALLS or spent > SHRINK_SECONDS:
                    raise _ShrinkBudgetSpent
            else:
                self.checks += 1
                self.generated += 1
                if self.generated <= OPENING_DRAWS:
                    opening.append(inputs)
                    if self.generated == OPENING_DRAWS:
                        send_opening()
                    return
                self.goldens_due(self.generated)
            if not judge(inputs):
                raise AssertionError(smallest[0][2] if smallest else "failed")

        with _memoized_strategies():
            try:
                follows_the_contract()
                send_opening()  # fewer draws than the opening holds
            except (_ShrinkBudgetSpent, PluginRunError, PluginWorkerError, AssertionError):
                pass  # the smallest failing input seen is reported below
            except HypothesisException as exc:
                if not smallest:
                    self.fail(
                        "spec",
                        "property test: inputs cannot be generated from the schema: "
                        + one_line(str(exc)),
                    )
        if smallest:
            _, rule, message = smallest[0]
            self.fail(rule, message)


_OUTSIDE_CALENDAR = "outside the years 1 to 9999"
"""What the rules language's date functions say of a date no calendar has."""
_NUMBER_TOO_BIG = "a number JSON cannot carry (infinity or NaN)"
_NO_SUCH_DATE = "a date outside the years 1 to 9999"


def _overflow(
    inputs: dict[str, Any], schema: dict[str, Any], problem: str, result: str = _NUMBER_TOO_BIG
) -> str:
    """The finding for an answer that overflowed (inf or nan, or past the calendar) on an
    input the schema allows: it names the input's largest number of a field ``schema``
    names, and the bound to add."""
    largest = largest_number(inputs, schema=schema)
    where = f" ({largest[0]} = {largest[1]:.4g})" if largest else ""
    return (
        f"the answer overflowed to {result} on an input "
        f"the input schema allows{where}: bound that field with a 'maximum' (and 'minimum') "
        f"in the spec's input schema, at the largest value plans use ({problem[:100]})"
    )


def _same(actual: Any, expected: Any) -> bool:
    from plan_pipeline.contract_check import same

    return same(actual, expected)


def _contract_check(spec: PluginSpec, sandbox: Sandbox) -> ContractCheck:
    from plan_pipeline.contract_check import ContractCheck

    return ContractCheck(spec, sandbox)


def contract_test_gate(
    wheel: Path,
    spec: PluginSpec,
    sandbox: Sandbox,
    work: Path,
    *,
    limits: SandboxLimits | None = None,
    property_examples: int = 50,
    early: PrestartedWorker | None = None,
    check: ContractCheck | None = None,
    extra_examples: list[Example] | None = None,
) -> GateResult:
    """Check the plugin in ``wheel`` against ``spec``: it runs in ``sandbox``, the verdict here.

    ``early``: a worker started for this gate before the wheel existed (same sandbox and
    limits); the plugin is handed to it when it fits (it needs nothing but pluggy), else it
    is stopped and the plugin gets a worker of its own. ``check``: the spec's contract,
    made before the wheel existed. The gate stops both."""
    work.mkdir(parents=True, exist_ok=True)
    limits = limits or SandboxLimits()
    with timed() as took:
        try:
            plugin = wheel_plugin(unpack_wheel(wheel, work / "site"), spec.capability)
            check = check or _contract_check(spec, sandbox)
        except (ContractLanguageError, BuildError) as exc:
            if early is not None:
                early.close()
            if check is not None:
                check.close()
            failed = Finding(rule="harness", message=str(exc))
            return GateResult.from_findings("contract_tests", [failed], "", 0.0)
        try:
            worker = _worker_for(plugin, sandbox, limits, early)
        except PluginWorkerError as exc:
            check.close()
            failed = Finding(rule="harness", message=exc.problem)
            return GateResult.from_findings("contract_tests", [failed], "", took[0])
        harness = _Harness(spec, worker, check, extra=list(extra_examples or []))
        try:
            harness.describe()
            harness.schedule_goldens(property_examples)
            harness.properties(property_examples)
            harness.goldens_due()
        except (PluginRunError, PluginWorkerError) as exc:
            harness.fail("test-error", exc.problem)
        except _GateBudgetSpent:
            why = f"the contract tests took longer than {GATE_SECONDS:g} s and were stopped"
            harness.fail("test-error", why)
        except Exception as exc:  # a check the harness could not do: told, never a pass
            harness.fail("harness", f"{type(exc).__name__}: {one_line(str(exc))}"[:500])
        finally:
            worker.close()
            check.close()
    if not harness.findings and harness.checks == 0:
        harness.fail("harness", "no check ran")
    where = f"{sandbox.name}, {worker.starts} worker start(s)"
    clean = f"{harness.checks} checks passed, plugin in {where}"
    if harness.bounded:
        clean += (
            f"; {len(harness.bounded)} number(s) or date(s) the spec leaves unbounded drawn "
            f"within ±{PLAN_MAGNITUDE:.0e} and the years {PLAN_YEARS[0]}-{PLAN_YEARS[1]} "
            "(a plan's magnitudes)"
        )
    return GateResult.from_findings("contract_tests", harness.findings, clean, took[0])


def _worker_for(
    plugin: WorkerPlugin, sandbox: Sandbox, limits: SandboxLimits, early: PrestartedWorker | None
) -> PluginWorker:
    """``early`` with ``plugin`` handed over when it fits, else a new worker of its own."""
    if early is not None:
        if (
            early.sandbox is sandbox
            and early.limits == limits
            and early.fits(plugin, network=False)
        ):
            return early.hand_over(plugin)
        early.close()
    return PluginWorker(plugin, sandbox, limits)


# -- the harness in a forked child ---------------------------------------------------------


class ForkedHarness:
    """The contract-test harness in a forked child of this process (see the module's
    docstring). Protocol over two pipes, one JSON object per line: the parent sends
    ``{"spec": ...}`` and then ``{"wheel": ..., "work": ...}``; the child answers the second
    with the ``GateResult``. Closing the parent's end stops the child and what it started."""

    def __init__(self, pid: int, to_child: int, from_child: int, wait_s: float) -> None:
        self.pid = pid
        self.wait_s = wait_s
        """How long ``result()`` waits for the gate's result before it stops the child."""
        self._to_child: int | None = to_child
        self._from_child = from_child
        self._status: int | None = None

    @classmethod
    def start(
        cls, sandbox: Sandbox, limits: SandboxLimits, property_examples: int
    ) -> ForkedHarness | None:
        """The forked harness, or ``None`` where forking is not safe: no ``fork``, or other
        threads in this process (their locks would stay held in the child)."""
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return None
        down_read, down_write = os.pipe()
        up_read, up_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(down_write)
                os.close(up_read)
                code = _harness_child(down_read, up_write, sandbox, limits, property_examples)
            finally:
                os._exit(code)
        os.close(down_read)
        os.close(up_write)
        # the gate's own budget, one call that started just before its end, and the checks
        wait_s = GATE_SECONDS + limits.wall_seconds + 30.0
        return cls(pid, down_write, up_read, wait_s)

    def send_spec(self, spec: PluginSpec) -> None:
        """The (validated) spec: the child makes its contract check from it at once."""
        self._send({"spec": spec.model_dump(mode="json")})

    def submit(self, wheel: Path, work: Path, extra_examples: list[Example] | None = None) -> None:
        """Start the gate on ``wheel`` (its result: ``result()``)."""
        extra = [e.model_dump(mode="json") for e in extra_examples or []]
        with contextlib.suppress(OSError):  # a child that is gone: told by result()
            self._send({"wheel": str(wheel), "work": str(work), "extra": extra})

    def result(self) -> GateResult:
        """The gate's result; a child that stops without one, or that has none after
        ``wait_s``, fails the gate (that child is then stopped)."""
        try:
            line = self._receive(time.monotonic() + self.wait_s)
            return GateResult.model_validate_json(line)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # its sandboxed children die with it
            self.close()
            why = f"the contract-test harness gave no result in {self.wait_s:g} s and was stopped"
            failed = Finding(rule="harness", message=why)
            return GateResult.from_findings("contract_tests", [failed], "", self.wait_s)
        except (OSError, ValueError) as exc:
            status = self._reap(wait_s=1.0)
            why = f"exit status {status}" if status is not None else one_line(str(exc))[:200]
            failed = Finding(rule="harness", message=f"the contract-test harness stopped ({why})")
            return GateResult.from_findings("contract_tests", [failed], "", 0.0)

    def close(self) -> None:
        """Stop the child (it stops its worker and evaluator) and wait for it."""
        if self._to_child is not None:
            fd, self._to_child = self._to_child, None
            os.close(fd)
        if self._from_child >= 0:
            os.close(self._from_child)
            self._from_child = -1
        if self._reap(wait_s=5.0) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap(wait_s=None)

    def _send(self, message: dict[str, Any]) -> None:
        if self._to_child is None:
            raise OSError("the harness was stopped")
        data = (json.dumps(message) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._to_child, view) :]

    def _receive(self, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([self._from_child], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._from_child, 1024 * 1024)
            if not chunk:
                raise OSError("the harness ended without an answer")
            chunks.append(chunk)
        return b"".join(chunks)

    def _reap(self, wait_s: float | None) -> int | None:
        """The child's exit status once it ended (``None`` while it runs after ``wait_s``;
        ``wait_s=None`` waits)."""
        if self._status is not None:
            return self._status
        deadline = None if wait_s is None else time.monotonic() + wait_s
        pause = 0.001
        while True:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                self._status = os.waitstatus_to_exitcode(status)
                return self._status
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _harness_child(
    down: int, up: int, sandbox: Sandbox, limits: SandboxLimits, property_examples: int
) -> int:
    """The forked child: start the worker, load Hypothesis, make the contract check when the
    spec arrives, run the gate when the wheel does. An error is sent as a failed gate."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # the parent's handlers are not for here
        if signal.getsignal(signum) is not signal.SIG_IGN:  # what the parent ignores, too
            signal.signal(signum, signal.SIG_DFL)
    gc.freeze()  # the parent's objects: never scanned here, so their pages stay shared
    early: PrestartedWorker | None = None
    check: ContractCheck | None = None
    reader = os.fdopen(down, "rb")
    try:
        if sandbox.isolated:
            with contextlib.suppress(PluginWorkerError, OSError):
                early = PrestartedWorker(sandbox, limits)
        _warm_up()
        first = reader.readline()
        if not first:
            return 0
        spec = PluginSpec.model_validate(json.loads(first)["spec"])
        try:
            check = _contract_check(spec, sandbox)
        except ContractLanguageError:
            check = None  # the gate makes it again and reports why
        second = reader.readline()
        if not second:
            return 0
        message = json.loads(second)
        try:
            gate = contract_test_gate(
                Path(message["wheel"]),
                spec,
                sandbox,
                Path(message["work"]),
                limits=limits,
                property_examples=property_examples,
                early=early,
                check=check,
                extra_examples=[Example.model_validate(e) for e in message.get("extra", [])],
            )
        except Exception as exc:  # a bug of the harness: told, never a pass
            failed = Finding(rule="harness", message=f"{type(exc).__name__}: {exc}"[:500])
            gate = GateResult.from_findings("contract_tests", [failed], "", 0.0)
        early = check = None  # the gate stopped them
        data = (gate.model_dump_json() + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(up, view) :]
        return 0
    finally:
        if early is not None:
            early.close()
        if check is not None:
            check.close()
        reader.close()
        os.close(up)


def _warm_up() -> None:
    """What a first property test in a process pays, paid on a schema of no plugin while the
    parent builds: imports, Hypothesis' scan of the loaded modules for constants, the seeding
    of its random generator (a full garbage collection), the memo's installation."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis_jsonschema import from_schema

    warm_hypothesis_storage()
    _install_memo()
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
    }

    @settings(
        max_examples=2,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        verbosity=Verbosity.quiet,
    )
    @given(value=from_schema(schema))
    def warm(value: Any) -> None:
        pass

    with _memoized_strategies():
        warm()
