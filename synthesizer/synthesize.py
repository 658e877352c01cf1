"""``PluginSynthesizer``: spec -> code -> project -> checks -> wheel -> tested, verified plugin.

Order matters for safety: the static-analysis gate reads the rendered sources before any of
the plugin's code is imported or run (building only packs files); the plugin's tests run only
inside the sandbox. A plugin is installed (dry-run) only after every gate passed. Every step's
result and duration goes into the test report.

What depends on the spec alone starts at once, beside code generation, rendering and the
build: the dependency audit (it reads only the spec's dependencies) in a thread, and the
contract-test harness in a forked child (``ForkedHarness``: Hypothesis, the sandboxed worker
the plugin is handed to and the constraint evaluator load meanwhile; the worker's library
folder stays empty until the plugin is built and has passed static analysis). Where forking
is not safe (other threads in this process) the harness runs here, with its worker started
early all the same. The renderer (cookiecutter) is imported after the fork, so the child does
not wait for it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from plan_pipeline.capability_names import generated_dist_name, package_slug
from plan_pipeline.command_groups import needs_extra
from plan_pipeline.errors import PlanPipelineError, SandboxUnavailableError
from plan_pipeline.plugin_worker import PrestartedWorker
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
from synthesizer.contract_tests import ForkedHarness, check_member_paths, contract_test_gate
from synthesizer.errors import (
    GateFailedError,
    SpecFileError,
    SynthesizerError,
)
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
    forked_harness: bool = True
    """Run the contract-test harness in a forked child started at once (where it is safe)."""
    llm_config: Path | None = None
    """The LLM backend's configuration file (else ``PLANEXE_LLM_CONFIG``); with one, a spec
    the rules generator cannot express is written by the LLM backend."""
    llm: str | None = None
    """The configuration's entry to use (else ``PLANEXE_LLM``, else ``auto``)."""
    repair_rounds: int = 3
    """Rounds the LLM backend gets: its first answer and the repairs after failed gates."""
    samples: int = 1
    """Answers the LLM backend asks for in its first round (the first to pass wins)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SynthesisOptions:
        """Options for pipeline runs, from ``PLANEXE_CODEGEN``, ``PLANEXE_OSV_URL``,
        ``PLANEXE_ADVISORIES``, ``PLANEXE_PROPERTY_EXAMPLES``, ``PLANEXE_FORKED_HARNESS=0`` (the
        harness runs in this process), ``PLANEXE_UNSAFE_NO_SANDBOX=1`` (runs plugin tests
        without isolation), ``PLANEXE_LLM_CONFIG``, ``PLANEXE_LLM`` and
        ``PLANEXE_LLM_ROUNDS`` and ``PLANEXE_LLM_SAMPLES``."""
        env = os.environ if environ is None else environ
        return cls(
            codegen=env.get("PLANEXE_CODEGEN") or DEFAULT_CODEGEN,
            osv_url=env.get("PLANEXE_OSV_URL") or None,
            advisories=Path(env.get("PLANEXE_ADVISORIES") or DEFAULT_ADVISORIES),
            unsafe_no_sandbox=env.get("PLANEXE_UNSAFE_NO_SANDBOX") == "1",
            property_examples=int(env.get("PLANEXE_PROPERTY_EXAMPLES") or 50),
            forked_harness=env.get("PLANEXE_FORKED_HARNESS") != "0",
            llm_config=Path(env["PLANEXE_LLM_CONFIG"]) if env.get("PLANEXE_LLM_CONFIG") else None,
            llm=env.get("PLANEXE_LLM") or None,
            repair_rounds=_count(env, "PLANEXE_LLM_ROUNDS", 3, "rounds the LLM backend gets"),
            samples=_count(env, "PLANEXE_LLM_SAMPLES", 1, "answers of its first round"),
        )


def _count(env: Mapping[str, str], name: str, default: int, what: str) -> int:
    """A positive whole number from ``env[name]`` (``default`` when unset)."""
    value = env.get(name) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise SynthesizerError(
            f"{name} is {value[:20]!r}, not a positive whole number",
            f"Set it to the {what}, e.g. {default}",
        )
    return int(value)


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
    started = time.perf_counter()
    options = options or SynthesisOptions()
    _check_out_dir(out_dir)
    sandbox: Sandbox | SandboxUnavailableError
    try:
        sandbox = _sandbox(options)
    except SandboxUnavailableError as exc:
        sandbox = exc
    harness = None
    if options.forked_harness and not isinstance(sandbox, SandboxUnavailableError):
        harness = ForkedHarness.start(sandbox, options.limits, options.property_examples)
    early: PrestartedWorker | None = None
    try:
        from synthesizer.render import PluginNames, revalidated  # after the fork (cookiecutter)

        spec = revalidated(spec)
        if harness is not None:
            harness.send_spec(spec)
        else:
            early = _early_worker(sandbox, options)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit") as pool:
            audit = pool.submit(
                dependency_audit_gate,
                spec.dependencies,
                osv_url=options.osv_url,
                advisories=options.advisories,
            )
            generator: CodeGenerator = (
                _GivenLogic(logic) if logic is not None else find_code_generator(options.codegen)
            )
            report = TestReport(
                capability=spec.capability,
                dist_name=PluginNames.for_capability(spec.capability).dist_name,
                version=spec.version,
                generator=generator.name,
                description=spec.description,
            )
            checks = _Checks(audit, sandbox, harness, early)
            report.timings["start (harness, audit, renderer loaded)"] = round(
                time.perf_counter() - started, 4
            )
            return _synthesize(spec, out_dir, options, progress, generator, report, checks)
    finally:
        if early is not None:
            early.close()  # unless the contract tests took it
        if harness is not None:
            harness.close()


@dataclass(frozen=True)
class _Checks:
    """The checks started at once: the audit, and the harness or the worker of the tests."""

    audit: Future[GateResult]
    sandbox: Sandbox | SandboxUnavailableError
    harness: ForkedHarness | None
    early: PrestartedWorker | None


def _early_worker(
    sandbox: Sandbox | SandboxUnavailableError, options: SynthesisOptions
) -> PrestartedWorker | None:
    """A sandboxed worker for the contract tests, started before the plugin exists (none
    without isolation, or when it cannot start: the gate then starts one)."""
    if isinstance(sandbox, SandboxUnavailableError) or not sandbox.isolated:
        return None
    try:
        return PrestartedWorker(sandbox, options.limits)
    except (PlanPipelineError, OSError):
        return None


def _synthesize(
    spec: PluginSpec,
    out_dir: Path,
    options: SynthesisOptions,
    progress: Progress,
    generator: CodeGenerator,
    report: TestReport,
    checks: _Checks,
) -> SynthesisResult:
    from synthesizer.render import PluginNames, render_project

    names = PluginNames.for_capability(spec.capability)
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
        report.gates += [_not_run("build"), checks.audit.result(), _not_run("contract_tests")]
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
    sandbox = checks.sandbox
    if isinstance(sandbox, SandboxUnavailableError):
        failed = GateResult(name="contract_tests", passed=False, summary=str(sandbox))
        report.gates += [checks.audit.result(), failed]
        return _finish(report, report_path, project, artifacts, progress)
    with timed() as checks_took:
        if checks.harness is not None:
            checks.harness.submit(artifacts.wheel, work, logic.extra_examples)
            _prepare_install()  # while the child runs the gate
            tests = checks.harness.result()
        else:
            tests = contract_test_gate(
                artifacts.wheel,
                spec,
                sandbox,
                work,
                limits=options.limits,
                property_examples=options.property_examples,
                early=checks.early,
                extra_examples=logic.extra_examples,
            )
        audit = checks.audit.result()
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
        error = GateFailedError(
            f"plugin for '{report.capability}' failed gate(s) {names}: {failed[0].summary}",
            f"See the test report {report_path}",
        )
        error.report, error.report_path = report, report_path
        raise error
    progress(f"report: every gate passed -> {report_path.name}")
    return SynthesisResult(report, report_path, project, artifacts)


INSTALLER_NAME = "planexe-plugin-hub"


def install_for_run(wheel: Path, target: Path) -> Path:
    """Install ``wheel`` into ``target`` only, as ``pip install --target`` lays it out (no
    dependencies, no index), in this process with pypa ``installer``: modules in ``target``,
    scripts in ``target/bin``, and a ``.dist-info`` with RECORD, INSTALLER, REQUESTED and
    ``direct_url.json``. The wheel's RECORD is checked first; no member may land outside
    ``target`` and no file is overwritten; a failed install removes what it wrote. Installs
    into one folder take turns (its ``.lock``, the file uv locks there)."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    scheme = {
        "purelib": str(root), "platlib": str(root), "scripts": str(root / "bin"),
        "data": str(root), "headers": str(root / "include"),
    }  # fmt: skip
    data = wheel.read_bytes()
    direct_url = {
        "url": wheel.resolve().as_uri(),
        "archive_info": {"hashes": {"sha256": hashlib.sha256(data).hexdigest()}},
    }
    from installer import install
    from installer.sources import WheelFile

    destination = _prepare_install()(
        scheme_dict=scheme, interpreter=sys.executable, script_kind="posix"
    )
    try:
        with (
            (root / ".lock").open("a+b") as lock,
            zipfile.ZipFile(wheel) as archive,
        ):
            fcntl.flock(lock, fcntl.LOCK_EX)
            check_member_paths(archive, wheel.name, root)
            source = WheelFile(archive)
            source.validate_record()
            install(
                source,
                destination,
                {
                    "INSTALLER": f"{INSTALLER_NAME}\n".encode(),
                    "REQUESTED": b"",
                    "direct_url.json": json.dumps(direct_url).encode(),
                },
            )
    except BaseException as exc:  # interrupted too: nothing half-installed stays
        destination.undo()
        if not isinstance(exc, Exception):
            raise
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SynthesizerError(
            f"installing {wheel.name} into {target} failed: {type(exc).__name__}: {detail}"[:400],
            "Nothing of it was installed; remove the run's plugin folder and rerun",
        ) from None
    return target


@cache
def _prepare_install() -> Callable[..., Any]:
    """pypa ``installer`` imported (about 10 ms, once per process) and the destination that
    remembers the files and folders it creates, so that a failed install can remove them."""
    from plan_pipeline.wheel_destination import RecordingDestination

    return RecordingDestination


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
        with needs_extra("synth", f"synthesizing '{request.spec.capability}' ({request.mode})"):
            pass
        slug = package_slug(request.spec.capability)
        synth_root = request.run_dir / ".synth"
        synth_root.mkdir(parents=True, exist_ok=True)
        # one synthesis per capability and run, whatever the number of Luigi workers
        with (synth_root / f"{slug}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stem = generated_dist_name(request.spec.capability).replace("-", "_")
            if list(request.plugin_dir.glob(f"{stem}-*.dist-info")):
                return SynthesisOutcome(
                    capability=request.spec.capability,
                    installed_into=request.plugin_dir,
                    notes=["reused", "installed for this run by another worker"],
                )
            from synthesizer.llm_synthesis import synthesize_routed

            result = synthesize_routed(
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
    if request.on_event is not None:  # the caller's progress and stop callback
        request.on_event(line)
