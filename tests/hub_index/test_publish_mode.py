"""The pipeline's publish mode against a real hub: synthesize once, publish, reuse anywhere;
concurrent misses give one synthesis; a revoked plugin is never loaded again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from hub_client.client import PluginHubClient
from hub_index.server import RunningHub
from tests.conftest import EXAMPLE_PLAN
from tests.hub_index.conftest import hub_env
from tests.venvs import overlay_venv

AREA_PLAN = """\
name: area
stages:
  - name: area
    capability: geometry.area
    inputs:
      w: {value: 3}
      h: {value: 4}
    contract:
      input_schema:
        type: object
        required: [w, h]
        properties: {w: {type: number, minimum: 0, maximum: 1000},
                     h: {type: number, minimum: 0, maximum: 1000}}
      output_schema: {type: object, required: [area], properties: {area: {type: number}}}
      rules: [{set: area, expr: "input.w * input.h"}]
      examples: [{input: {w: 2, h: 3}, output: {area: 6}}]
"""


def _run(python: str, plan: Path, run_dir: Path, hub: RunningHub, mode: str = "publish",  # type: ignore[no-untyped-def]
         hub_url: str | None = None):  # fmt: skip
    env = hub_env(hub.home) | {"PLANEXE_PROPERTY_EXAMPLES": "10"}
    if hub_url is not None:
        env["PLANEXE_HUB_URL"] = hub_url
    return subprocess.run(
        [python, "-m", "plan_pipeline.cli", "run", str(plan), "--run-dir", str(run_dir),
         "--synthesis", mode],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip


def _venv(tmp_path: Path, name: str) -> str:
    return overlay_venv(tmp_path / name)


def _count(hub: RunningHub, table: str) -> int:
    engine = sa.create_engine(hub.home.settings().database_url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def test_publish_then_reuse_in_a_fresh_environment(hub: RunningHub, tmp_path: Path) -> None:
    first = _run(_venv(tmp_path, "a"), EXAMPLE_PLAN, tmp_path / "run-a", hub)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("synthesized '") == 2
    assert first.stdout.count(": published planexe-gen-") == 2

    client = PluginHubClient.from_home(hub.home)
    (solar,), (risk,) = client.records("energy.solar_yield"), client.records("risk.score_matrix")
    for record in (solar, risk):
        assert record.trust_tier.value == "generated"
        assert record.signer_identity == hub.home.signer_identity()
    assert _count(hub, "plugin_hub_test_reports") == 2
    assert _count(hub, "plugin_hub_usage") >= 7

    python_b = _venv(tmp_path, "b")
    second = _run(python_b, EXAMPLE_PLAN, tmp_path / "run-b", hub)
    assert second.returncode == 0, second.stderr
    assert "synthesized '" not in second.stdout
    assert second.stdout.count("reused '") == 2
    assert not (tmp_path / "run-b" / ".synth").exists()
    installed = subprocess.run(
        [python_b, "-c", "import importlib.metadata as m\n"
         "for n in ('planexe-gen-risk-score-matrix', 'planexe-gen-energy-solar-yield'):\n"
         "    d = m.distribution(n)\n"
         "    print(d.version, d.read_text('INSTALLER').strip(), d.read_text('direct_url.json'))"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for line, record in zip(installed, (risk, solar), strict=True):
        version, installer, direct_url = line.split(" ", 2)
        # the verified bytes, installed in-process, from the release's content address
        assert (version, installer) == ("1.0.0", "planexe-plugin-hub")
        assert json.loads(direct_url)["url"] == client.file_url(record)
    assert (tmp_path / "run-b" / "007-report.md").read_text() == (
        tmp_path / "run-a" / "007-report.md"
    ).read_text()


def test_four_workers_missing_the_same_capability_synthesize_once(
    hub: RunningHub, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(AREA_PLAN)
    env = hub_env(hub.home) | {"PLANEXE_PROPERTY_EXAMPLES": "10"}
    procs = []
    for i in range(4):
        python = _venv(tmp_path, f"w{i}")
        procs.append(subprocess.Popen(
            [python, "-m", "plan_pipeline.cli", "run", str(plan), "--run-dir",
             str(tmp_path / f"run-{i}"), "--synthesis", "publish"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ))  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outputs]
    stdout = "".join(o[0] for o in outputs)
    assert stdout.count(": published planexe-gen-geometry-area") == 1
    assert stdout.count("synthesized 'geometry.area'") == 1
    assert len(PluginHubClient.from_home(hub.home).records("geometry.area")) == 1
    for i in range(4):
        assert (tmp_path / f"run-{i}" / "001-area.json").read_text().strip() == (
            '{\n  "area": 12\n}'
        )


def test_revoked_plugin_is_not_loaded_even_where_installed(hub: RunningHub, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(AREA_PLAN)
    python = _venv(tmp_path, "v")
    assert _run(python, plan, tmp_path / "run-1", hub).returncode == 0
    # the hub out of reach: the installed plugin runs under the metadata verified before
    gone = "http://127.0.0.1:9"
    offline = _run(python, plan, tmp_path / "run-offline", hub, mode="suggest", hub_url=gone)
    assert offline.returncode == 0, offline.stderr
    assert "using the hub's signed metadata verified here before" in offline.stderr
    client = PluginHubClient.from_home(hub.home)
    (record,) = client.records("geometry.area")
    client.revoke(record.plugin_id, "found a bug")
    again = _run(python, plan, tmp_path / "run-2", hub, mode="suggest")
    assert again.returncode == 3, again.stderr
    assert "planexe-gen-geometry-area 1.0.0 is quarantined" in again.stderr
    # once seen, a revocation holds offline too
    later = _run(python, plan, tmp_path / "run-3", hub, mode="suggest", hub_url=gone)
    assert later.returncode == 3, later.stderr
    assert "planexe-gen-geometry-area 1.0.0 is quarantined" in later.stderr


RULELESS_PLAN = AREA_PLAN.replace("geometry.area", "geometry.rect_area").replace(
    '      rules: [{set: area, expr: "input.w * input.h"}]\n', ""
)
"""A stage whose contract states no rules: outside what the rules generator can write."""

_AREA_MODULE = "def compute(input):\n    return {'area': input['w'] * input['h']}\n"


def test_a_spec_outside_the_rules_subset_is_written_by_the_llm_backend_published_and_reused(
    hub: RunningHub, tmp_path: Path
) -> None:
    from tests.synthesizer.llm_helpers import KEY_ENV, entry, fenced, write_config
    from tests.synthesizer.openai_standin import Reply, serve

    plan = tmp_path / "plan.yaml"
    plan.write_text(RULELESS_PLAN)
    with serve(Reply(fenced(_AREA_MODULE), prompt_tokens=300, completion_tokens=40)) as standin:
        config = write_config(tmp_path / "llm_config.json", {"coder": entry(standin.url)})
        env = hub_env(hub.home) | {
            "PLANEXE_PROPERTY_EXAMPLES": "10",
            "PLANEXE_LLM_CONFIG": str(config),
            KEY_ENV: "sk-test",
        }
        first = subprocess.run(
            [_venv(tmp_path, "a"), "-m", "plan_pipeline.cli", "run", str(plan), "--run-dir",
             str(tmp_path / "run-a"), "--synthesis", "publish"],
            capture_output=True, text=True, env=env, check=False, timeout=300,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert len(standin.requests) == 1
    assert "the rules generator cannot write it" in first.stdout
    assert "the LLM backend writes it" in first.stdout
    assert "written by the llm generator (model standin-coder, 1 round(s), 340 tokens" in (
        first.stdout
    )
    assert ": published planexe-gen-geometry-rect-area" in first.stdout
    assert (tmp_path / "run-a" / "001-area.json").read_text().strip() == '{\n  "area": 12\n}'

    client = PluginHubClient.from_home(hub.home)
    (record,) = client.records("geometry.rect_area")
    report = client.report(record.plugin_id)
    assert report["report"]["generator"] == "llm"  # the hub's rebuild of the published module
    assert "publisher_synthesis" not in report["report"]  # never inside what the hub signs
    assert report["publisher_synthesis"]["model"] == "standin-coder"
    assert report["publisher_synthesis"]["prompt_tokens"] == 300
    shown = subprocess.run(
        [sys.executable, "-m", "plan_pipeline.cli", "show", record.plugin_id],
        capture_output=True, text=True, env=hub_env(hub.home), check=False, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "synthesis (as the publisher reported it): written by the llm generator" in (
        shown.stdout
    )

    # the stand-in is gone: a fresh environment reuses the published plugin
    second = _run(_venv(tmp_path, "b"), plan, tmp_path / "run-b", hub)
    assert second.returncode == 0, second.stderr
    assert "reused 'geometry.rect_area'" in second.stdout
    assert "synthesized '" not in second.stdout
