"""PlanExe plugin providing '{{ cookiecutter.capability }}'.

Implements the hooks of the PlanExe plugin contract; needs nothing but pluggy.
"""

from __future__ import annotations

from typing import Any

import pluggy

from {{ cookiecutter.module_name }}.logic import compute
from {{ cookiecutter.module_name }}.spec import SPEC

CAPABILITY = "{{ cookiecutter.capability }}"
hookimpl = pluggy.HookimplMarker("planexe")


@hookimpl
def planexe_describe(capability: str) -> dict[str, Any] | None:
    if capability != CAPABILITY:
        return None
    return {
        "summary": SPEC["summary"],
        "input_schema": SPEC["input_schema"],
        "output_schema": SPEC["output_schema"],
    }


@hookimpl
def planexe_run(
    capability: str, inputs: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any] | None:
    if capability != CAPABILITY:
        return None
    return compute(inputs)
