"""The resolver's dry-run wiring: a synthesizer found through ``planexe.synthesizers``
receives the drafted spec, installs into the run's own plugin folder, and the stage reruns."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from plan_pipeline.errors import SynthesisUnavailableError
from plan_pipeline.synthesis import find_synthesizer
from tests.conftest import CliRunner

PLAN = """\
name: shout
stages:
  - name: words
    capability: brief.load
    inputs:
      brief:
        value: {project: quiet words, start_date: "2027-01-01", budget_cap: 1,
                workstreams: [{id: w, name: W, tasks: [{id: T, name: t, days: 1, cost: 1}]}]}
  - name: loud
    capability: text.shout
    inputs:
      text: {stage: words, select: project}
    contract:
      summary: Upper-case the text.
      input_schema: {type: object, required: [text], properties: {text: {type: string}}}
      output_schema: {type: object, required: [text], properties: {text: {type: string}}}
      examples: [{input: {text: a}, output: {text: A}}]
"""

# A synthesizer that writes a real installed plugin into the folder it is given.
SYNTHESIZER = '''
import json
from pathlib import Path
from plan_pipeline.synthesis import SynthesisOutcome

PLUGIN = """
import pluggy
hookimpl = pluggy.HookimplMarker("planexe")
SPEC = {spec}

@hookimpl
def planexe_describe(capability):
    if capability == SPEC["capability"]:
        return {{"input_schema": SPEC["input_schema"], "output_schema": SPEC["output_schema"]}}

@hookimpl
def planexe_run(capability, inputs, context):
    if capability == SPEC["capability"]:
        return {{"text": inputs["text"].upper()}}
"""

class Synth:
    def synthesize(self, request):
        spec = request.spec
        Path(request.run_dir, "seen-spec.json").write_text(spec.model_dump_json())
        folder = request.plugin_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "shout_plugin.py").write_text(PLUGIN.format(spec=spec.model_dump(mode="json")))
        info = folder / "shout_plugin-1.0.0.dist-info"
        info.mkdir()
        meta = "Metadata-Version: 2.1\\nName: shout-plugin\\nVersion: 1.0.0\\n"
        (info / "METADATA").write_text(meta + "Requires-Dist: pluggy\\n")
        (info / "RECORD").write_text("shout_plugin.py,,\\n")
        (info / "entry_points.txt").write_text("[planexe.plugins]\\ntext.shout = shout_plugin\\n")
        return SynthesisOutcome(capability=spec.capability, installed_into=folder)
'''


def _synthesizer_site(tmp_path: Path) -> Path:
    site = tmp_path / "synth-site"
    site.mkdir()
    (site / "test_synth.py").write_text(textwrap.dedent(SYNTHESIZER))
    info = site / "test_synth-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: test-synth\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[planexe.synthesizers]\ntest = test_synth:Synth\n")
    return site


def test_dry_run_synthesizes_installs_for_the_run_and_reruns_the_stage(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    run_dir = tmp_path / "run"
    site = _synthesizer_site(tmp_path)
    result = run_cli(
        "run", plan, "--run-dir", run_dir, "--synthesis", "dry-run",
        extra_path=[site], env={"PLANEXE_SYNTHESIZER": "test"},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "synthesizing 'text.shout' (dry-run)" in result.stdout
    assert json.loads((run_dir / "002-loud.json").read_text()) == {"text": "QUIET WORDS"}
    seen = json.loads((run_dir / "seen-spec.json").read_text())
    assert seen["capability"] == "text.shout"
    assert seen["examples"][-1]["input"] == {"text": "quiet words"}
    assert (run_dir / "002-loud.plugin-spec.json").is_file()
    # installed for this run only: the environment itself still lacks the capability
    listed = run_cli("capabilities", extra_path=[site])
    assert "text.shout" not in listed.stdout
    other = run_cli(
        "run", plan, "--run-dir", tmp_path / "other", "--synthesis", "suggest", extra_path=[site]
    )
    assert other.code == 3


def test_unknown_synthesizer_is_a_clear_error() -> None:
    with pytest.raises(SynthesisUnavailableError, match="no plugin synthesizer named 'nope'"):
        find_synthesizer("nope")


def test_dry_run_with_an_unknown_synthesizer_stops_cleanly(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    result = run_cli(
        "run", plan, "--run-dir", tmp_path / "run", "--synthesis", "dry-run",
        env={"PLANEXE_SYNTHESIZER": "nope"},
    )  # fmt: skip
    assert result.code == 3
    assert "no plugin synthesizer named 'nope' is installed" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "run" / "001-words.json").is_file()
