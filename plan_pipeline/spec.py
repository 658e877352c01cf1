"""``PluginSpec``: what a missing capability must do, drafted from a stage's contract.

The spec is the hand-off between the pipeline (which finds the gap) and the synthesizer (which
fills it). The caller names its file (a YAML plan: ``NNN-stage.plugin-spec.json`` next to the
stage output). It is all a code generator, a reviewer or a maintainer needs to build the plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from pydantic import BaseModel, ConfigDict, Field, field_validator

from plan_pipeline.contract import CapabilityName, CapabilityNeed, Contract, Example, Rule
from plan_pipeline.errors import PlanFileError
from plan_pipeline.files import write_atomic
from plan_pipeline.schemas import local_refs_only

SPEC_VERSION = 1


class PluginSpec(BaseModel):
    """A capability to synthesize: schemas, rules, constraints and golden examples."""

    model_config = ConfigDict(extra="forbid")

    spec_version: int = SPEC_VERSION
    capability: CapabilityName
    stage_name: str
    version: str = Field(default="1.0.0", pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$")
    summary: str = ""
    description: str = Field(default="", max_length=8000)
    """The author's words: what the stage is for and what its answer must respect (the
    contract's ``description``), the first thing the LLM backend's prompt says."""
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    rules: list[Rule] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    provenance: dict[str, str] = Field(default_factory=dict)

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _local_refs(cls, value: dict[str, Any]) -> dict[str, Any]:
        local_refs_only(value)
        return value

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> PluginSpec:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def draft_spec(
    stage: CapabilityNeed, inputs: dict[str, Any], *, provenance: dict[str, str]
) -> PluginSpec:
    """Draft the spec for ``stage``'s missing capability; ``provenance`` says where it arose.

    The contract gives schemas, rules, constraints and golden examples. The stage's actual
    inputs (from upstream outputs) become one more example without an expected output, so the
    generated plugin is also tested on the data it will really see. Without a contract the
    input schema is inferred from those inputs and the output schema is left open.
    """
    contract = stage.contract or Contract(input_schema=infer_schema(inputs))
    examples = list(contract.examples)
    if inputs and all(e.input != inputs for e in examples):
        examples.append(Example(input=inputs, note=f"actual inputs of stage '{stage.name}'"))
    return PluginSpec(
        capability=stage.capability,
        stage_name=stage.name,
        version=first_version_in(stage.version),
        summary=contract.summary or f"Capability '{stage.capability}' for stage '{stage.name}'",
        description=contract.description,
        input_schema=contract.input_schema,
        output_schema=contract.output_schema,
        rules=list(contract.rules),
        constraints=list(contract.constraints),
        examples=examples,
        permissions=list(contract.permissions),
        dependencies=list(contract.dependencies),
        provenance={**provenance, "stage": stage.name},
    )


def first_version_in(version_range: str | None) -> str:
    """The lowest ``X.Y.0`` (from 1.0.0 up) inside ``version_range``; ``1.0.0`` without one."""
    if not version_range:
        return "1.0.0"
    spec = SpecifierSet(version_range)
    for major in (*range(1, 100), 0):
        for minor in range(100):
            candidate = f"{major}.{minor}.0"
            if spec.contains(candidate, prereleases=True):
                return candidate
    raise PlanFileError(
        f"no release version X.Y.0 satisfies the version range {version_range!r}",
        "Widen the stage's version range",
    )


def infer_schema(value: Any) -> dict[str, Any]:
    """A plain JSON schema describing the shape of ``value`` (types and required keys)."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if value is None:
        return {"type": "null"}
    if isinstance(value, list):
        return {"type": "array", "items": infer_schema(value[0])} if value else {"type": "array"}
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {k: infer_schema(v) for k, v in value.items()},
            "required": sorted(value),
        }
    return {}


def write_spec(spec: PluginSpec, path: Path) -> None:
    """Write ``spec`` atomically (a reader never sees half a file)."""
    write_atomic(path, spec.to_json())
