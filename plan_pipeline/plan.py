"""Plan files: the YAML a user writes, its pydantic model, and every check done before a run.

A plan lists stages. Each stage names the capability it needs (optionally a version range),
its inputs (an upstream stage's output, a file next to the plan, or a literal value, each
optionally narrowed by ``select``) and, for capabilities that may be missing, a contract::

    name: community-solar-microgrid
    stages:
      - name: brief
        capability: brief.load
        inputs:
          brief: {file: brief.yaml}
      - name: risks
        capability: risk.score_matrix
        version: ">=1.0"
        inputs:
          risks: {stage: brief, select: risks}
        contract:
          input_schema: {...}
          output_schema: {...}
          rules: [{set: "risks[*].score", expr: "item.likelihood * item.impact"}]
          constraints: ["all(r.score == r.likelihood * r.impact for r in output.risks)"]
          examples: [{input: {...}, output: {...}}]

``load_plan`` turns every problem into a one-line ``PlanFileError``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from plan_pipeline.contract import CapabilityNeed, Contract, Example, Rule
from plan_pipeline.errors import PlanFileError

__all__ = ["Contract", "Example", "InputRef", "LoadedPlan", "Plan", "Rule", "Stage", "load_plan"]

STAGE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputRef(_Strict):
    """Where one stage input comes from: exactly one of ``stage``, ``file`` or ``value``."""

    stage: str | None = None
    file: str | None = None
    value: Any = None
    select: str | None = Field(
        default=None, description="dotted path into the source, e.g. 'system.arrays'"
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> InputRef:
        given = [k for k in ("stage", "file", "value") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("an input needs exactly one of 'stage', 'file' or 'value'")
        return self


class Stage(CapabilityNeed):
    """One step of the plan, run as one Luigi task writing one numbered output file."""

    name: str = Field(pattern=STAGE_NAME_PATTERN)
    inputs: dict[str, InputRef] = Field(default_factory=dict)
    text_output: str | None = Field(
        default=None, description="output field also written as NNN-name.md"
    )

    def upstream(self) -> list[str]:
        """Names of the stages whose outputs this stage reads, in input order."""
        seen: list[str] = []
        for ref in self.inputs.values():
            if ref.stage is not None and ref.stage not in seen:
                seen.append(ref.stage)
        return seen


class Plan(_Strict):
    """A whole plan file."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = ""
    description: str = ""
    stages: list[Stage] = Field(min_length=1)


class LoadedPlan:
    """A validated plan with the path it came from and its stage graph."""

    def __init__(self, plan: Plan, path: Path) -> None:
        self.plan = plan
        self.path = path
        self.base_dir = path.parent

    @cached_property
    def stages(self) -> dict[str, Stage]:
        return {s.name: s for s in self.plan.stages}

    def index_of(self, stage_name: str) -> int:
        """1-based position of the stage in the plan, used in output file names."""
        return next(i for i, s in enumerate(self.plan.stages, start=1) if s.name == stage_name)

    def output_name(self, stage_name: str) -> str:
        return f"{self.index_of(stage_name):03d}-{stage_name}.json"

    def text_output_name(self, stage_name: str) -> str:
        return f"{self.index_of(stage_name):03d}-{stage_name}.md"

    def spec_name(self, stage_name: str) -> str:
        return f"{self.index_of(stage_name):03d}-{stage_name}.plugin-spec.json"

    def downstream_leaves(self) -> list[str]:
        """Stages no other stage reads: building these builds the whole plan."""
        used = {up for s in self.plan.stages for up in s.upstream()}
        return [s.name for s in self.plan.stages if s.name not in used]

    def resolve_file(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()


def load_plan(path: str | Path) -> LoadedPlan:
    """Read, parse and check a plan file; every problem is a one-line ``PlanFileError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"plan file {path} does not exist", "Check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlanFileError(
            f"plan file {path} is not valid YAML{where}: {what}", "Fix the YAML syntax there"
        ) from None
    data = json_compatible(data)
    if not isinstance(data, dict):
        raise PlanFileError(
            f"plan file {path} must be a YAML mapping with 'name' and 'stages'",
            "See examples/plans/ for the format",
        )
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanFileError(f"plan file {path}: {_first_problem(exc, data)}") from None
    loaded = LoadedPlan(plan, path.resolve())
    _check_graph(loaded)
    _check_files(loaded)
    return loaded


def _first_problem(exc: ValidationError, data: dict[str, Any]) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _describe_location(first["loc"], data)
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{loc}: {msg}{more}"


def _describe_location(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            item = node[key]
            label = item.get("name") if isinstance(item, dict) else None
            parts[-1] = f"{parts[-1]}[{label!r}]" if label else f"{parts[-1]}[{key}]"
            node = item
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "top level"


def _check_graph(loaded: LoadedPlan) -> None:
    names: list[str] = [s.name for s in loaded.plan.stages]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlanFileError(
            f"plan file {loaded.path}: stage name {duplicates[0]!r} is used more than once",
            "Give every stage a unique name",
        )
    stages = loaded.stages
    for stage in loaded.plan.stages:
        for input_name, ref in stage.inputs.items():
            if ref.stage is not None and ref.stage not in stages:
                raise PlanFileError(
                    f"plan file {loaded.path}: stage '{stage.name}' input '{input_name}' "
                    f"refers to unknown stage '{ref.stage}'",
                    f"Use one of: {', '.join(names)}",
                )
    cycle = _find_cycle({s.name: s.upstream() for s in loaded.plan.stages})
    if cycle:
        raise PlanFileError(
            f"plan file {loaded.path}: dependency cycle {' -> '.join(cycle)}",
            "Remove one of those stage inputs so that the stages form a chain",
        )


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a path that starts and ends at the same stage."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def _check_files(loaded: LoadedPlan) -> None:
    for stage in loaded.plan.stages:
        for input_name, ref in stage.inputs.items():
            if ref.file is None:
                continue
            target = loaded.resolve_file(ref.file)
            if not target.is_file():
                raise PlanFileError(
                    f"plan file {loaded.path}: stage '{stage.name}' input '{input_name}' "
                    f"names file {ref.file!r}, which does not exist next to the plan",
                    "Paths are relative to the plan file's folder",
                )


def read_input_file(path: Path) -> Any:
    """Parse a stage input file: JSON or YAML by suffix, any other file as text."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix in {".yaml", ".yml"}:
        return json_compatible(yaml.safe_load(text))
    return text


def json_compatible(value: Any) -> Any:
    """YAML data as JSON data: dates and times become ISO strings, keys become strings."""
    if isinstance(value, dict):
        return {str(k): json_compatible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_compatible(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
