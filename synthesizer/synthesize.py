"""``PluginSynthesizer``: spec -> code -> project -> checks -> wheel -> tested, verified plugin.

Order matters for safety: the static-analysis gate reads the rendered sources before any of
the plugin's code is imported or run (building only packs files); the plugin's tests run only
inside the sandbox; the dependency audit runs next to them (in parallel). A plugin is installed
(dry-run) only after every gate passed. Every step's result and duration goes into the test
report.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from plan_pipeline.capability_names import package_slug
from plan_pipeline.errors import SandboxUnavailableError
from plan_pipeline.sandbox import BubblewrapSandbox, Sandbox, SandboxLimits, UnsafeNoSandbox
from plan_pipeline.spec import PluginSpec
from plan_pipeline.synthesis import SynthesisMode, SynthesisOutcome, SynthesisRequest
from synthesizer.audit import DEFAULT_ADVISORIES, dependency_audit_gate
from synthesizer.build import BuiltArtifacts, build_project
from synthesizer.codegen import (
    DEFAULT_CODEGEN,
    CodeGenerator,
    GeneratedLogic,
    find_code_generator,
)
from synthesizer.contract_tests import contract_test_gate
from synthesizer.errors import (
    GateFailedError,
    SpecFileError,
    SynthesizerError,
)
from synthesizer.render import PluginNames, render_project, revalidated
from synthesizer.report import GateResult, TestReport, timed
from synthesizer.static_analysis import static_analysis_gate

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SynthesisOptions:
    codegen: str = DEFAULT_CODEGEN
    osv_url: str | None = None
    advisories: Path = DEFAULT_ADVISORIES
    unsafe_no_sandbox: bool = False
    property_examples: int = 50
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SynthesisOptions:
        """Options for pipeline runs, from ``PLANEXE_CODEGEN``, ``PLANEXE_OSV_URL``,
        ``PLANEXE_ADVISORIES``, ``PLANEXE_PROPERTY_EXAMPLES`` and
        ``PLANEXE_UNSAFE_NO_SANDBOX=1`` (runs plugin tests without isolation)."""
        env = os.environ if environ is None else environ
        return cls(
            codegen=env.get("PLANEXE_CODEGEN") or DEFAULT_CODEGEN,
            osv_url=env.get("PLANEXE_OSV_URL") or None,
            advisories=Path(env.get("PLANEXE_ADVISORIES") or DEFAULT_ADVISORIES),
            unsafe_no_sandbox=env.get("PLANEXE_UNSAFE_NO_SANDBOX") == "1",
            property_examples=int(env.get("PLANEXE_PROPERTY_EXAMPLES") or 50),
        )


@dataclass(frozen=True)
class SynthesisResult:
    report: TestReport
    report_path: Path
    project: Path
    artifacts: BuiltArtifacts
    logic: GeneratedLogic | None = None
    """The logic module the plugin was built from (a publish sends it to the hub)."""

    @property
    def wheel(self) -> Path:
        return self.artifacts.wheel


def _sandbox(options: SynthesisOptions) -> Sandbox:
    if options.unsafe_no_sandbox:
        return UnsafeNoSandbox()
    return BubblewrapSandbox.detect()


OUT_MARKER = ".planexe-synth"


def _check_out_dir(out_dir: Path) -> None:
    """Use ``out_dir`` only if it is new, empty, or was made by the synthesizer: the
    synthesizer replaces its ``src``, ``dist`` and ``sandbox`` folders."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / OUT_MARKER).exists():
        raise SpecFileError(
            f"{out_dir} is not empty and was not made by 'plugin-hub synth'",
            "Choose a new or empty folder for --out",
        )


def _not_run(name: str) -> GateResult:
    return GateResult(name=name, passed=False, ran=False, summary="not run: an earlier gate failed")


def synthesize_plugin(
    spec: PluginSpec,
    out_dir: Path,
    options: SynthesisOptions | None = None,
    progress: Progress = lambda _line: None,
    logic: GeneratedLogic | None = None,
) -> SynthesisResult:
    """Generate, render, check, build and test the plugin for ``spec`` under ``out_dir``.

    ``logic``: code written elsewhere (the hub re-verifying a published plugin passes the
    publisher's); every gate runs on it as on generated code.

    Raises ``GateFailedError`` (after writing the report) when any gate fails and
    ``UnsupportedSpecError`` when the code generator cannot express the spec.
    """
    options = options or SynthesisOptions()
    spec = revalidated(spec)
    _check_out_dir(out_dir)
    names = PluginNames.for_capability(spec.capability)
    generator: CodeGenerator = (
        _GivenLogic(logic) if logic is not None else find_code_generator(options.codegen)
    )
    report = TestReport(
        capability=spec.capability,
        dist_name=names.dist_name,
        version=spec.version,
        generator=generator.name,
    )
    dist_dir = out_dir / "dist"
    report_path = dist_dir / f"{names.dist_name}-{spec.version}.report.json"

    def step(name: str, seconds: float, detail: str) -> None:
        report.timings[name] = round(seconds, 4)
        progress(f"{name}: {detail} ({seconds * 1000:.0f} ms)")

    with timed() as took:
        logic = generator.generate(spec)
    step("codegen", took[0], f"{generator.name} generator wrote logic.py")
    report.gates.append(
        GateResult(
            name="codegen",
            passed=True,
            duration_s=took[0],
            summary=f"{generator.name}: {len(logic.source)} bytes",
        )
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / OUT_MARKER).write_text("made by plugin-hub synth\n", encoding="utf-8")
    src = out_dir / "src"
    if src.exists():
        shutil.rmtree(src)
    with timed() as took:
        project = render_project(spec, logic, src)
    step("render", took[0], f"rendered {project.name} from plugin_template")

    static = static_analysis_gate(
        project / names.module_name, project, spec.permissions, spec.dependencies
    )
    report.gates.append(static)
    step("static analysis", static.duration_s, static.summary)

    if dist_dir.exists():
        shutil.rmtree(dist_dir)
    if not static.passed:  # nothing of a plugin that failed the policy is even built
        dist_dir.mkdir(parents=True)
        report.gates += [
            _not_run("build"),
            _not_run("dependency_audit"),
            _not_run("contract_tests"),
        ]
        return _finish(report, report_path, project, None, progress)
    with timed() as took:
        artifacts = build_project(project, dist_dir)
    report.wheel = artifacts.wheel.name
    report.wheel_sha256 = hashlib.sha256(artifacts.wheel.read_bytes()).hexdigest()
    report.gates.append(
        GateResult(
            name="build",
            passed=True,
            duration_s=took[0],
            summary=f"{artifacts.wheel.name}, {artifacts.sdist.name}",
        )
    )
    step("build", took[0], f"{artifacts.wheel.name} sha256 {report.wheel_sha256[:12]}")

    work = out_dir / "sandbox"
    if work.exists():
        shutil.rmtree(work)
    try:
        sandbox = _sandbox(options)
    except SandboxUnavailableError as exc:
        report.gates.append(GateResult(name="contract_tests", passed=False, summary=str(exc)))
        report.gates.insert(-1, dependency_audit_gate(
            spec.dependencies, osv_url=options.osv_url, advisories=options.advisories))  # fmt: skip
        return _finish(report, report_path, project, artifacts, progress)
    with timed() as checks_took, ThreadPoolExecutor(max_workers=1) as pool:
        audit_future = pool.submit(
            dependency_audit_gate,
            spec.dependencies,
            osv_url=options.osv_url,
            advisories=options.advisories,
        )
        tests = contract_test_gate(
            artifacts.wheel,
            spec,
            sandbox,
            work,
            limits=options.limits,
            property_examples=options.property_examples,
        )
        audit = audit_future.result()
    report.gates += [audit, tests]
    step("dependency audit", audit.duration_s, audit.summary)
    step("contract tests", tests.duration_s, tests.summary)
    report.timings["checks (audit and tests in parallel)"] = round(checks_took[0], 4)
    return replace(_finish(report, report_path, project, artifacts, progress), logic=logic)


class _GivenLogic:
    """Code written before the synthesis (by a publisher), re-checked like generated code."""

    def __init__(self, logic: GeneratedLogic) -> None:
        self.logic = logic
        self.name = logic.generator

    def generate(self, spec: PluginSpec) -> GeneratedLogic:
        return self.logic


def _finish(
    report: TestReport,
    report_path: Path,
    project: Path,
    artifacts: BuiltArtifacts | None,
    progress: Progress,
) -> SynthesisResult:
    report.write(report_path)
    if not report.passed or artifacts is None:
        failed = report.failed_gates() or [g for g in report.gates if not g.passed]
        names = ", ".join(g.name for g in failed)
        raise GateFailedError(
            f"plugin for '{report.capability}' failed gate(s) {names}: {failed[0].summary}",
            f"See the test report {report_path}",
        )
    progress(f"report: every gate passed -> {report_path.name}")
    return SynthesisResult(report, report_path, project, artifacts)


def install_for_run(wheel: Path, target: Path) -> Path:
    """Install ``wheel`` into ``target`` only (no dependencies, no index) with uv, else pip."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        from uv import find_uv_bin

        command = [
            find_uv_bin(), "pip", "install", "--quiet", "--no-deps", "--no-index", "--offline",
            "--python", sys.executable, "--target", str(target), str(wheel),
        ]  # fmt: skip
    except (ImportError, FileNotFoundError):
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--isolated", "--no-deps",
                   "--no-index", "--target", str(target), str(wheel)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SynthesizerError(
            f"installing {wheel.name} into {target} failed: {proc.stderr.strip()[-300:]}"
        )
    return target


class DefaultSynthesizer:
    """The pipeline's synthesizer (``planexe.synthesizers`` entry point ``default``)."""

    def __init__(self, options: SynthesisOptions | None = None) -> None:
        self.options = options or SynthesisOptions.from_env()

    def synthesize(self, request: SynthesisRequest) -> SynthesisOutcome:
        if request.mode is SynthesisMode.PUBLISH:
            raise SynthesizerError(
                "the publish mode needs the plugin hub, which this installation does not have",
                "Use --synthesis dry-run",
            )
        slug = package_slug(request.spec.capability)
        synth_root = request.run_dir / ".synth"
        synth_root.mkdir(parents=True, exist_ok=True)
        # one synthesis per capability and run, whatever the number of Luigi workers
        with (synth_root / f"{slug}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            names = PluginNames.for_capability(request.spec.capability)
            stem = names.dist_name.replace("-", "_")
            if list(request.plugin_dir.glob(f"{stem}-*.dist-info")):
                return SynthesisOutcome(
                    capability=request.spec.capability,
                    installed_into=request.plugin_dir,
                    notes=["reused", "installed for this run by another worker"],
                )
            result = synthesize_plugin(
                request.spec, synth_root / slug, self.options, lambda line: _log(request, line)
            )
            install_for_run(result.wheel, request.plugin_dir)
        return SynthesisOutcome(
            capability=request.spec.capability,
            wheel=result.wheel,
            report=result.report_path,
            installed_into=request.plugin_dir,
        )


def _log(request: SynthesisRequest, line: str) -> None:
    print(f"  {request.spec.capability}: {line}", flush=True)
