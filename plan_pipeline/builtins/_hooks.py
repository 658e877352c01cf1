"""The two hooks of a built-in capability, made from its description and its function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plan_pipeline.hookspecs import hookimpl

Describe = Callable[[str], dict[str, Any] | None]
Run = Callable[[str, dict[str, Any], dict[str, Any]], dict[str, Any] | None]


def capability_hooks(
    name: str, description: dict[str, Any], compute: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[Describe, Run]:
    """``planexe_describe`` and ``planexe_run`` for one capability, to bind in its module."""

    @hookimpl
    def planexe_describe(capability: str) -> dict[str, Any] | None:
        return description if capability == name else None

    @hookimpl
    def planexe_run(
        capability: str, inputs: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any] | None:
        return compute(inputs) if capability == name else None

    return planexe_describe, planexe_run
