"""Rendering the plugin template from several threads at once, as the hub rebuilds publishes:
each render gets its own complete project, and the process's working directory is left as
it was (cookiecutter changes it while it renders)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from plan_pipeline.plan import Rule
from plan_pipeline.spec import Example, PluginSpec
from synthesizer.render import render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from tests.hub_index.conftest import area_spec


def test_concurrent_renders_with_relative_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    specs = [area_spec(f"geometry.shape_{i}") for i in range(8)]
    logic = [RulesCodeGenerator().generate(spec) for spec in specs]
    projects: dict[int, Path] = {}
    errors: list[BaseException] = []

    def render(i: int) -> None:
        try:
            projects[i] = render_project(specs[i], logic[i], Path(f"out-{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    for first in range(0, 8, 2):  # pairs at once, as the hub's two rebuild slots
        threads = [threading.Thread(target=render, args=(i,)) for i in (first, first + 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert Path(os.getcwd()) == tmp_path
    for i, project in projects.items():
        assert project.is_relative_to(tmp_path / f"out-{i}")
        module = f"planexe_gen_geometry_shape_{i}"
        assert (project / module / "logic.py").read_text() == logic[i].source
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out-{i}" for i in range(8)]


def test_the_rendered_project_s_own_tests_check_constraints_with_range(tmp_path: Path) -> None:
    spec = PluginSpec(
        capability="math.squares",
        stage_name="squares",
        input_schema={
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 20}},
            "required": ["n"],
        },
        output_schema={"type": "object", "required": ["squares"]},
        rules=[Rule(set="squares", expr="[i * i for i in range(input.n)]")],
        constraints=[
            "all(output.squares[i] == i * i for i in range(len(output.squares)))",
            "len(output.squares) == input.n",
        ],
        examples=[Example(input={"n": 3}, output={"squares": [0, 1, 4]})],
    )
    project = render_project(spec, RulesCodeGenerator().generate(spec), tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": str(project), "PLANEXE_PROPERTY_EXAMPLES": "10"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert "4 passed" in tests.stdout


def test_the_rendered_project_s_own_tests_check_constraints_with_dates(tmp_path: Path) -> None:
    spec = PluginSpec(
        capability="schedule.finish",
        stage_name="finish",
        input_schema={
            "type": "object",
            "properties": {
                "start": {"type": "string", "enum": ["2024-02-27", "2025-12-30"]},
                "days": {"type": "integer", "minimum": 0, "maximum": 400},
            },
            "required": ["start", "days"],
        },
        output_schema={"type": "object", "required": ["finish"]},
        rules=[
            Rule(let="finish", expr="date_add_days(input.start, input.days)"),
            Rule(set="finish", expr="finish"),
        ],
        constraints=["days_between(input.start, output.finish) == input.days"],
        examples=[
            Example(input={"start": "2024-02-27", "days": 3}, output={"finish": "2024-03-01"})
        ],
    )
    project = render_project(spec, RulesCodeGenerator().generate(spec), tmp_path / "out")
    tests_source = (project / "tests" / "test_contract.py").read_text()
    assert "def days_between(" in tests_source
    env = {**os.environ, "PYTHONPATH": str(project), "PLANEXE_PROPERTY_EXAMPLES": "10"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert "4 passed" in tests.stdout


def test_a_project_without_date_constraints_carries_no_date_code(tmp_path: Path) -> None:
    spec = area_spec("geometry.plain")
    project = render_project(spec, RulesCodeGenerator().generate(spec), tmp_path / "out")
    assert "datetime" not in (project / "tests" / "test_contract.py").read_text()
