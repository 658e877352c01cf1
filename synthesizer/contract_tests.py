"""The contract-test gate: a trusted harness checks the plugin, which runs in a sandboxed worker.

The plugin's code runs only in a ``PluginWorker`` (bubblewrap, no network, nothing of the host
to read). The harness runs here, outside it: it asks the worker to describe the capability,
sends it the spec's golden inputs and inputs that Hypothesis generates from the input schema,
and checks every answer itself: plain JSON, the output schema, every constraint, and the
expected output of a golden example. Only the answers to the harness's own requests count, so
nothing the plugin writes, prints or exits with can turn a failure into a pass.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import time
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import HypothesisException
from hypothesis_jsonschema import from_schema
from referencing.exceptions import Unresolvable

from plan_pipeline.errors import PluginRunError, PluginWorkerError
from plan_pipeline.hookspecs import ENTRY_POINT_GROUP
from plan_pipeline.plugin_worker import PluginWorker, WorkerPlugin
from plan_pipeline.sandbox import Sandbox, SandboxLimits
from plan_pipeline.schemas import validator
from plan_pipeline.spec import PluginSpec
from synthesizer.contract_check import ContractCheck, same
from synthesizer.errors import BuildError, UnsupportedSpecError
from synthesizer.report import Finding, GateResult, timed

_MAX_FINDINGS = 20


def unpack_wheel(wheel: Path, target: Path) -> Path:
    """Unpack a pure-Python wheel (what installing it does), refusing unsafe member paths."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            dest = (root / member).resolve()
            if not dest.is_relative_to(root) or member.startswith("/"):
                raise BuildError(f"wheel {wheel.name} has an unsafe member path {member!r}")
        archive.extractall(root)
    return root


@cache
def warm_hypothesis_storage() -> Path:
    """Hypothesis' home folder, with its Unicode tables computed.

    Hypothesis computes those tables on first use (about 1 s) and keeps them in its home
    folder: one per user, so later syntheses start warm. Only Hypothesis runs here.
    """
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

    def fail(self, rule: str, message: str) -> None:
        if len(self.findings) < _MAX_FINDINGS:
            self.findings.append(Finding(rule=rule, message=message[:500]))

    def run(self, inputs: dict[str, Any]) -> Any:
        """The plugin's output for ``inputs``; once the worker died, every call fails alike."""
        if self.fatal is not None:
            raise self.fatal
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

    def golden(self) -> None:
        for number, example in enumerate(self.spec.examples, start=1):
            self.checks += 1
            name = f"example {number}" + (f" ({example.note})" if example.note else "")
            try:
                input_error = jsonschema.exceptions.best_match(
                    validator(self.spec.input_schema).iter_errors(example.input)
                )
            except Unresolvable as exc:
                self.fail("spec", f"{name}: the input schema's $ref {exc.ref!r} does not resolve")
                continue
            if input_error is not None:
                self.fail(
                    "spec", f"{name}: the input breaks the input schema: {input_error.message}"
                )
                continue
            try:
                output = self.run(example.input)
            except (PluginRunError, PluginWorkerError) as exc:
                self.fail("test-error", f"{name}: {exc.problem}")
                continue
            for problem in self.check.problems(example.input, output):
                self.fail("test-failure", f"{name}: {problem}")
            if example.output is not None and not same(output, example.output):
                self.fail("test-failure", f"{name}: expected {example.output}, got {output}")

    def properties(self, examples: int) -> None:
        warm_hypothesis_storage()
        problems: list[str] = []

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            report_multiple_bugs=False,
        )
        @given(inputs=from_schema(self.spec.input_schema))
        def follows_the_contract(inputs: dict[str, Any]) -> None:
            self.checks += 1
            output = self.run(inputs)
            found = self.check.problems(inputs, output)
            if found:
                problems[:] = [f"input {inputs}: {found[0]}"]
                raise AssertionError(found[0])

        try:
            follows_the_contract()
        except (PluginRunError, PluginWorkerError) as exc:
            self.fail("test-error", f"property test: {exc.problem}")
        except AssertionError:
            self.fail("test-failure", f"property test: {problems[0] if problems else 'failed'}")
        except HypothesisException as exc:
            self.fail("spec", f"property test: inputs cannot be generated from the schema: {exc}")


def contract_test_gate(
    wheel: Path,
    spec: PluginSpec,
    sandbox: Sandbox,
    work: Path,
    *,
    limits: SandboxLimits | None = None,
    property_examples: int = 50,
) -> GateResult:
    """Check the plugin in ``wheel`` against ``spec``: it runs in ``sandbox``, the verdict here."""
    work.mkdir(parents=True, exist_ok=True)
    with timed() as took:
        try:
            check = ContractCheck(spec, sandbox)
            plugin = wheel_plugin(unpack_wheel(wheel, work / "site"), spec.capability)
        except (UnsupportedSpecError, BuildError) as exc:
            failed = Finding(rule="harness", message=str(exc))
            return GateResult.from_findings("contract_tests", [failed], "", 0.0)
        worker = PluginWorker(plugin, sandbox, limits)
        harness = _Harness(spec, worker, check)
        try:
            harness.describe()
            harness.golden()
            harness.properties(property_examples)
        except (PluginRunError, PluginWorkerError) as exc:
            harness.fail("test-error", exc.problem)
        finally:
            worker.close()
            check.close()
    if not harness.findings and harness.checks == 0:
        harness.fail("harness", "no check ran")
    where = f"{sandbox.name}, {worker.starts} worker start(s)"
    clean = f"{harness.checks} checks passed, plugin in {where}"
    return GateResult.from_findings("contract_tests", harness.findings, clean, took[0])
