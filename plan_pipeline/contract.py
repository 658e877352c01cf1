"""What a capability must do: the contract a stage states, and ``CapabilityNeed``, the
plan-free description of one stage's need that the resolver works from.

A YAML plan's stage is one kind of need; a PlanExe task backed by a capability is another
(``plan_pipeline.planexe``). Neither the resolver nor the spec drafter knows which.
"""

from __future__ import annotations

import ast
from typing import Annotated, Any

import jsonschema
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from plan_pipeline.capability_names import validate_capability_name
from plan_pipeline.errors import CapabilityNameError, ContractLanguageError, PlanFileError
from plan_pipeline.registry import parse_version_spec
from plan_pipeline.schemas import local_refs_only

NEED_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


def _checked_capability_name(value: str) -> str:
    try:
        return validate_capability_name(value)
    except CapabilityNameError as exc:
        raise ValueError(str(exc)) from None


CapabilityName = Annotated[str, AfterValidator(_checked_capability_name)]
"""A capability name that follows the naming rules (``plan_pipeline.capability_names``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """A derived output field, or a named value: ``set`` is a path in the output, ``let`` a
    name; ``expr`` computes it.

    ``risks[*].score`` sets ``score`` on every item of ``risks``; inside such a rule ``item``
    is the current item. ``{let: total, expr: ...}`` names a value that later rules read as
    ``total`` and that never appears in the output. Expressions are a small, side-effect-free
    Python subset over ``input``, ``output``, ``item`` and the names let so far.
    """

    set: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]*(\[\*\])?(\.[a-z_][a-z0-9_]*(\[\*\])?)*$"
    )
    let: str | None = None
    expr: str

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        return _check_expression(value)

    @field_validator("let")
    @classmethod
    def _let_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from plan_pipeline.expressions import check_let_name  # it imports this module

        try:
            return check_let_name(value)
        except ContractLanguageError as exc:
            fix = exc.fix or ""
            raise ValueError(f"{exc.problem}: {fix[:1].lower()}{fix[1:]}") from None

    @model_validator(mode="after")
    def _set_or_let(self) -> Rule:
        if (self.set is None) == (self.let is None):
            raise ValueError(
                "a rule has exactly one of 'set' (an output field) and 'let' (a named value)"
            )
        return self

    @model_serializer(mode="wrap")
    def _one_of_set_and_let(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The rule as written: a ``set`` rule serializes as before ``let`` existed."""
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in ("set", "let") and v is None)}

    @property
    def target(self) -> str:
        """What the rule computes: its output path, or its name."""
        return self.set if self.set is not None else str(self.let)


class Example(_Strict):
    """A golden example: an input and, when known, the exact expected output."""

    input: dict[str, Any]
    output: dict[str, Any] | None = None
    note: str = ""


class Contract(_Strict):
    """What a capability must do, stated so that a plugin can be generated and checked."""

    summary: str = ""
    description: str = Field(default="", max_length=8000)
    """What the stage is for and what its answer must respect, in its author's words (the
    natural-language constraints): what a model reads first when it writes the plugin."""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    rules: list[Rule] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "top level"
            raise ValueError(f"invalid JSON schema at {where}: {exc.message}") from None
        local_refs_only(value)
        return value

    @field_validator("constraints")
    @classmethod
    def _constraints_parse(cls, value: list[str]) -> list[str]:
        return [_check_expression(v) for v in value]


class CapabilityNeed(_Strict):
    """One stage's need: the capability, an optional version range and an optional contract.

    ``name`` names the stage in messages, in the spec's provenance and in usage records.
    """

    name: str = Field(pattern=NEED_NAME_PATTERN)
    capability: CapabilityName
    version: str | None = None
    contract: Contract | None = None

    @field_validator("version")
    @classmethod
    def _version_range(cls, value: str | None) -> str | None:
        try:
            parse_version_spec(value)
        except PlanFileError as exc:
            raise ValueError(exc.problem) from None
        return value

    @property
    def network(self) -> bool:
        """Whether the contract grants the plugin the network."""
        return self.contract is not None and "network" in self.contract.permissions


MAX_EXPRESSION_LENGTH = 2_000
"""The longest rule or constraint a contract may hold, in characters."""


def _check_expression(expr: str) -> str:
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"expression {expr[:60]!r}... is longer than {MAX_EXPRESSION_LENGTH:,} characters"
        )
    try:
        ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression {expr!r} is not valid: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"expression {expr[:60]!r} is nested too deeply") from None
    return expr
