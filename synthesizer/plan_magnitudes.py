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

Dates too: a string of ``format: date`` without a ``pattern`` of the spec's own is drawn
within the years plans live in (``PLAN_YEARS``), through a pattern that gives only real
calendar dates (the 29th of February excepted); a date of year 9999 plus a duration has no
answer, and no plan starts there.
"""

from __future__ import annotations

import copy
from typing import Any

PLAN_MAGNITUDE = 1e9
"""The bound given to a number without one: inputs are drawn within ±1e9."""
PLAN_RESOLUTION = 1e-6
"""The finest step of a drawn ``number`` the spec gives no ``multipleOf``: plans count in
cents, grams and seconds, never in 1e-311 (a subnormal divisor overflows any ratio)."""

PLAN_YEARS = (1900, 2199)
"""The years a drawn date lies in, when the spec does not say."""
_PLAN_DATE = (
    r"^(?:19|20|21)[0-9]{2}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)$"
)
"""Every calendar date of ``PLAN_YEARS`` but the 29th of February, and nothing else."""

_NUMERIC = frozenset({"number", "integer"})
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_VALUES = ("items", "additionalProperties", "contains", "if", "then", "else")


def within_plan_magnitudes(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``schema`` whose unbounded numbers are bounded by ``PLAN_MAGNITUDE`` and
    whose dates lie in ``PLAN_YEARS``, and the paths of what it bounded
    (``$.risks[*].cost``)."""
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
    if node.get("format") == "date" and "pattern" not in node and kinds & {"string", None}:
        del node["format"]  # the pattern gives only dates, which the format's check accepts
        node["pattern"] = _PLAN_DATE
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


def largest_number(
    value: Any, path: str = "$", schema: dict[str, Any] | None = None
) -> tuple[str, float] | None:
    """The path and value of the number of largest magnitude in ``value`` (a JSON value);
    with ``schema``, only among the fields it names (a draw's extra keys are no field of
    the spec's)."""
    found: tuple[str, float] | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return path, float(value)
    children: list[tuple[str, Any, dict[str, Any] | None]] = []
    if isinstance(value, dict):
        named = schema.get("properties", {}) if schema is not None else None
        children = [
            (f"{path}.{k}", v, named[k] if named is not None else None)
            for k, v in value.items()
            if named is None or (k in named and isinstance(named[k], dict))
        ]
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        if schema is None or isinstance(items, dict):
            children = [(f"{path}[{i}]", v, items) for i, v in enumerate(value)]
    for child_path, child, child_schema in children:
        candidate = largest_number(child, child_path, child_schema)
        if candidate is not None and (found is None or abs(candidate[1]) > abs(found[1])):
            found = candidate
    return found
