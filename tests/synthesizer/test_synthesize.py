"""Spec to verified wheel: every gate, the report, reproducibility, and refusals."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plan_pipeline.spec import PluginSpec
from synthesizer.errors import BuildError, GateFailedError, SynthesizerError
from synthesizer.synthesize import SynthesisOptions, install_for_run, synthesize_plugin
from tests.conftest import CliRunner
from tests.synthesizer.conftest import example_specs, spec_path

FAST = SynthesisOptions(property_examples=10)
GATES = ["codegen", "static_analysis", "build", "dependency_audit", "contract_tests"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("capability", sorted(example_specs()))
def test_example_specs_pass_every_gate(capability: str, tmp_path: Path) -> None:
    spec = example_specs()[capability]
    lines: list[str] = []
    result = synthesize_plugin(spec, tmp_path, FAST, progress=lines.append)
    report = result.report
    assert [g.name for g in report.gates] == GATES
    assert all(g.passed and g.ran for g in report.gates)
    assert report.pass_rate == 1.0
    assert report.wheel_sha256 == _sha(result.wheel)
    assert result.report_path.parent == result.wheel.parent
    saved = json.loads(result.report_path.read_text())
    assert saved["passed"] is True and saved["pass_rate"] == 1.0
    assert all(g["duration_s"] >= 0 for g in saved["gates"])
    row = report.as_row()
    assert (
        row["pass_rate"] == 1.0 and json.loads(str(row["report_json"]))["capability"] == capability
    )
    assert [line.split(":")[0] for line in lines] == [
        "codegen", "render", "static analysis", "build", "dependency audit", "contract tests",
        "report",
    ]  # fmt: skip


def test_same_spec_gives_byte_identical_artifacts(risk_spec: PluginSpec, tmp_path: Path) -> None:
    first = synthesize_plugin(risk_spec, tmp_path / "a", FAST)
    second = synthesize_plugin(risk_spec, tmp_path / "b", FAST)
    assert _sha(first.wheel) == _sha(second.wheel)
    assert _sha(first.artifacts.sdist) == _sha(second.artifacts.sdist)
    # the standard front end builds the very same wheel from the rendered project
    out = tmp_path / "frontend"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
         str(first.project)],
        check=True, capture_output=True,
        env={"SOURCE_DATE_EPOCH": "1700000000", "PATH": "/usr/bin"},
    )  # fmt: skip
    (wheel,) = out.glob("*.whl")
    assert _sha(wheel) == _sha(first.wheel)


EVIL_CODEGEN = """
from synthesizer.codegen import GeneratedLogic

class Evil:
    name = "evil"

    def generate(self, spec):
        source = (
            "import os\\n"
            "open({marker!r}, 'w').write('ran')\\n"
            "def compute(input):\\n"
            "    return dict(os.environ)\\n"
        )
        return GeneratedLogic(generator=self.name, source=source)
"""


def test_unsafe_generated_code_is_rejected_before_it_runs(
    risk_spec: PluginSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "the-plugin-ran"
    (site / "evil_codegen.py").write_text(textwrap.dedent(EVIL_CODEGEN.format(marker=str(marker))))
    info = site / "evil_codegen-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-codegen\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[planexe.codegen]\nevil = evil_codegen:Evil\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()

    out = tmp_path / "out"
    with pytest.raises(GateFailedError) as err:
        synthesize_plugin(risk_spec, out, SynthesisOptions(codegen="evil"))
    assert "failed gate(s) static_analysis" in str(err.value)
    assert not marker.exists()
    report = json.loads(next((out / "dist").glob("*.report.json")).read_text())
    gates = {g["name"]: g for g in report["gates"]}
    assert gates["static_analysis"]["passed"] is False
    rules = {f["rule"] for f in gates["static_analysis"]["findings"]}
    assert {"import", "filesystem"} <= rules
    assert gates["contract_tests"]["ran"] is False
    assert report["passed"] is False and report["pass_rate"] < 1
    assert not (out / "sandbox").exists()


def test_no_sandbox_fails_the_gate_unless_unsafe_is_asked_for(
    solar_spec: PluginSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(GateFailedError, match="sandbox unavailable: bwrap is not installed"):
        synthesize_plugin(solar_spec, tmp_path / "safe", FAST)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr("shutil.which", lambda name: None)
    unsafe = SynthesisOptions(property_examples=10, unsafe_no_sandbox=True)
    result = synthesize_plugin(solar_spec, tmp_path / "unsafe", unsafe)
    assert result.report.passed
    assert "unsafe-none" in result.report.gates[-1].summary


def test_cli_synth_shows_progress_and_writes_artifacts(
    risk_spec: PluginSpec, tmp_path: Path, run_cli: CliRunner
) -> None:
    result = run_cli(
        "synth", spec_path(tmp_path, risk_spec), "--out", tmp_path / "out",
        "--property-examples", "10",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    for step in ("codegen:", "render:", "static analysis:", "build:", "dependency audit:",
                 "contract tests:", "wheel:", "report:"):  # fmt: skip
        assert step in result.stdout
    assert list((tmp_path / "out" / "dist").glob("planexe_gen_risk_score_matrix-1.0.0-*.whl"))


def test_cli_synth_refuses_an_inexpressible_spec_without_writing_a_plugin(
    risk_spec: PluginSpec, tmp_path: Path, run_cli: CliRunner
) -> None:
    spec = risk_spec.model_copy(update={"rules": risk_spec.rules[:1]})
    out = tmp_path / "out"
    result = run_cli("synth", spec_path(tmp_path, spec), "--out", out)
    assert result.code == 3
    assert "needs a code-generation backend that can handle this" in result.stderr
    assert "high_count" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_synth_bad_spec_file(tmp_path: Path, run_cli: CliRunner) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run_cli("synth", bad, "--out", tmp_path / "out")
    assert result.code == 2
    assert "is not a valid plugin spec" in result.stderr


def test_cli_synth_never_overwrites_a_folder_it_did_not_make(
    risk_spec: PluginSpec, tmp_path: Path, run_cli: CliRunner
) -> None:
    out = tmp_path / "project"
    (out / "src").mkdir(parents=True)
    (out / "src" / "precious.py").write_text("keep me")
    result = run_cli("synth", spec_path(tmp_path, risk_spec), "--out", out)
    assert result.code == 2
    assert "was not made by 'plugin-hub synth'" in result.stderr
    assert (out / "src" / "precious.py").read_text() == "keep me"


def test_spec_text_cannot_inject_template_code(risk_spec: PluginSpec, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}"
    spec = risk_spec.model_copy(update={"summary": payload + " C:\\\\new\\\\"})
    # rendered verbatim, never evaluated; the static analysis then refuses the dunder text
    with pytest.raises(GateFailedError, match="dunder"):
        synthesize_plugin(spec, tmp_path / "out", FAST)
    assert not marker.exists()
    readme = next((tmp_path / "out" / "src").glob("*/README.md")).read_text()
    assert payload in readme


def test_an_unvalidated_spec_copy_is_validated_again(risk_spec: PluginSpec, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    version = "1.0.1{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}"
    spec = risk_spec.model_copy(update={"version": version})
    with pytest.raises(BuildError, match="the plugin spec is invalid"):
        synthesize_plugin(spec, tmp_path / "out", FAST)
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_allowed_pinned_dependency_reaches_the_wheel_metadata(
    solar_spec: PluginSpec, tmp_path: Path
) -> None:
    import importlib.metadata
    import zipfile

    pin = f"pyyaml=={importlib.metadata.version('pyyaml')}"
    spec = solar_spec.model_copy(update={"dependencies": [pin]})
    result = synthesize_plugin(spec, tmp_path / "out", FAST)
    assert result.report.passed
    with zipfile.ZipFile(result.wheel) as wheel:
        meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        assert f"Requires-Dist: {pin}" in wheel.read(meta).decode()


@pytest.mark.parametrize("forked", [True, False], ids=["forked harness", "harness here"])
def test_the_harness_runs_forked_or_here_with_the_same_gates(
    risk_spec: PluginSpec, tmp_path: Path, forked: bool
) -> None:
    options = SynthesisOptions(property_examples=10, forked_harness=forked)
    result = synthesize_plugin(risk_spec, tmp_path / "out", options)
    assert [g.name for g in result.report.gates] == GATES
    tests = result.report.gates[-1]
    assert tests.passed and tests.summary.startswith(
        f"{1 + len(risk_spec.examples) + 10} checks passed, plugin in bubblewrap, 1 worker"
    )


def test_install_for_run_writes_what_the_resolver_reads(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    import importlib.metadata

    wheel = synthesize_plugin(risk_spec, tmp_path / "out", FAST).wheel
    target = install_for_run(wheel, tmp_path / "plugins")
    (info,) = target.glob("*.dist-info")
    assert (info / "INSTALLER").read_text() == "planexe-plugin-hub\n"
    assert (info / "REQUESTED").exists()
    direct = json.loads((info / "direct_url.json").read_text())
    assert direct["archive_info"]["hashes"]["sha256"] == _sha(wheel)
    dist = importlib.metadata.PathDistribution(info)
    assert [ep.name for ep in dist.entry_points if ep.group == "planexe.plugins"] == [
        risk_spec.capability
    ]
    recorded = {str(f) for f in dist.files or []}
    on_disk = {
        str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and p.name != ".lock"
    }
    assert recorded == on_disk
    # a second copy overwrites nothing and leaves the first one whole
    with pytest.raises(SynthesizerError, match="already exists"):
        install_for_run(wheel, target)
    after = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert after - {".lock"} == on_disk


def test_a_wheel_with_a_member_outside_the_target_installs_nothing(tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("../outside.py", "x = 1\n")
        archive.writestr("evil-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: evil\n")
    with pytest.raises(SynthesizerError, match="unsafe member path"):
        install_for_run(wheel, tmp_path / "plugins")
    assert not (tmp_path / "outside.py").exists()
    assert [p.name for p in (tmp_path / "plugins").iterdir()] == [".lock"]


def test_llm_rounds_and_samples_come_from_the_environment_or_say_what_to_set() -> None:
    options = SynthesisOptions.from_env({"PLANEXE_LLM_ROUNDS": "2", "PLANEXE_LLM_SAMPLES": "3"})
    assert (options.repair_rounds, options.samples) == (2, 3)
    default = SynthesisOptions.from_env({})
    assert (default.repair_rounds, default.samples) == (3, 1)
    with pytest.raises(SynthesizerError) as raised:
        SynthesisOptions.from_env({"PLANEXE_LLM_SAMPLES": "0"})
    assert "PLANEXE_LLM_SAMPLES is '0', not a positive whole number" in raised.value.problem
