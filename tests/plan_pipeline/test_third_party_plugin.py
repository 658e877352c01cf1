"""A third-party plugin wheel, pip-installed into a throwaway environment, is found and run
by the pipeline there with no code change; uninstalling it makes the capability missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import CliRunner
from tests.plugin_factory import PluginSource, build_plugin_wheel

PLAN = """\
name: words
stages:
  - name: text
    capability: brief.load
    inputs:
      brief:
        value:
          project: Count words in this brief
          start_date: "2027-01-01"
          budget_cap: 1
          workstreams: [{id: w, name: W, tasks: [{id: T, name: t, days: 1, cost: 1}]}]
  - name: count
    capability: text.word_count
    version: ">=1.0,<2"
    inputs:
      text: {stage: text, select: project}
"""


def test_wheel_installed_with_pip_is_discovered_and_run(
    tmp_path: Path, run_cli: CliRunner, throwaway_env: Path
) -> None:
    plugin = PluginSource(
        dist="acme-word-count",
        module="acme_word_count",
        capabilities={"text.word_count": "{'words': len(inputs['text'].split())}"},
        version="1.2.0",
        output_schema={
            "type": "object",
            "required": ["words"],
            "properties": {"words": {"type": "integer"}},
        },
    )
    wheel = build_plugin_wheel(tmp_path / "src", plugin, tmp_path / "dist")
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    python = str(throwaway_env)
    pip = [python, "-m", "pip", "--disable-pip-version-check"]

    missing = run_cli("run", plan, "--run-dir", tmp_path / "before", python=python)
    assert missing.code == 3
    assert "needs capability 'text.word_count>=1.0,<2'" in missing.stderr

    subprocess.run(
        [*pip, "install", "--no-index", "--no-deps", str(wheel)], check=True, capture_output=True
    )
    listed = run_cli("capabilities", python=python)
    assert "text.word_count: acme-word-count 1.2.0 (generated)" in listed.stdout
    run = run_cli("run", plan, "--run-dir", tmp_path / "with", python=python)
    assert run.code == 0, run.stderr
    assert "count: ok" in run.stdout and "acme-word-count 1.2.0" in run.stdout
    assert json.loads((tmp_path / "with" / "002-count.json").read_text()) == {"words": 5}

    subprocess.run([*pip, "uninstall", "-y", "acme-word-count"], check=True, capture_output=True)
    after = run_cli("run", plan, "--run-dir", tmp_path / "after", python=python)
    assert after.code == 3
    assert "needs capability 'text.word_count>=1.0,<2'" in after.stderr
    # this test's own environment never saw the plugin
    assert run_cli("run", plan, "--run-dir", tmp_path / "host").code == 3
