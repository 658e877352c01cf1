"""Property inputs from the magnitudes plans live in.

A plan author writes ``{type: number, minimum: 0}`` for litres, kWh or an amount of money and
means "a quantity", not "anything up to 1.8e308". The property test draws its inputs from a
copy of the input schema in which every number or integer the spec leaves unbounded on a side
is bounded there by ``PLAN_MAGNITUDE``: a plan's largest figures (a budget in any currency, a
count of anything) are far below it, while products and sums of such figures stay finite.
Numbers are drawn in steps of ``PLAN_RESOLUTION`` unless the spec gives its own
``multipleOf``, so no draw is a vanishing divisor either.
A spec that means larger numbers says so with its own ``maximum`` (or ``minimum``), which is
kept as written. The golden examples are never changed.
"""

from __future__ import annotations

import copy
from typing import Any

PLAN_MAGNITUDE = 1e9
"""The bound given to a number without one: inputs are drawn within ±1e9."""
PLAN_RESOLUTION = 1e-6
"""The finest step of a drawn ``number`` the spec gives no ``multipleOf``: plans count in
cents, grams and seconds, never in 1e-311 (a subnormal divisor overflows any ratio)."""

_NUMERIC = frozenset({"number", "integer"})
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_VALUES = ("items", "additionalProperties", "contains", "if", "then", "else")


def within_plan_magnitudes(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``schema`` whose unbounded numbers are bounded by ``PLAN_MAGNITUDE``, and
    the paths of the numbers it bounded (``$.risks[*].cost``)."""
    bounded = copy.deepcopy(schema)
    paths: list[str] = []
    _bound(bounded, "$", paths)
    return bounded, paths


def _bound(node: Any, path: str, paths: list[str]) -> None:
    if not isinstance(node, dict):
        return
    types = node.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    if kinds & _NUMERIC:
        changed = False
        if "number" in kinds and "multipleOf" not in node:
            node["multipleOf"] = PLAN_RESOLUTION
        if "maximum" not in node and "exclusiveMaximum" not in node:
            node["maximum"] = PLAN_MAGNITUDE
            changed = True
        if "minimum" not in node and "exclusiveMinimum" not in node:
            node["minimum"] = -PLAN_MAGNITUDE
            changed = True
        if changed:
            paths.append(path)
    for key in _SCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                _bound(child, f"{path}.{name}" if key == "properties" else path, paths)
    for key in _SCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for child in children:
                _bound(child, f"{path}[*]" if key == "prefixItems" else path, paths)
    for key in _SCHEMA_VALUES:
        _bound(node.get(key), f"{path}[*]" if key in ("items", "contains") else path, paths)


def largest_number(value: Any, path: str = "$") -> tuple[str, float] | None:
    """The path and value of the number of largest magnitude in ``value`` (a JSON value)."""
    found: tuple[str, float] | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return path, float(value)
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        children = [(f"{path}.{k}", v) for k, v in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    for child_path, child in children:
        candidate = largest_number(child, child_path)
        if candidate is not None and (found is None or abs(candidate[1]) > abs(found[1])):
            found = candidate
    return found
