"""JSON schemas from specs, contracts and plugins: checked without fetching anything.

jsonschema fetches a ``$ref`` it does not know (``http://...``, ``file:///...``) unless given a
registry. A schema written by a plugin would then make this process send requests or read
local files and echo them in messages. Here only references inside the schema resolve.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from referencing import Registry

_NOTHING_REMOTE: Registry[Any] = Registry()


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for ``schema`` whose ``$ref`` resolve inside the schema only."""
    return jsonschema.Draft202012Validator(schema, registry=_NOTHING_REMOTE)


def local_refs_only(schema: Any) -> None:
    """Raise ``ValueError`` naming the first ``$ref`` that points outside ``schema``."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                raise ValueError(f"$ref {ref!r} points outside the schema (use '#/$defs/...')")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


_LINEAR_KEYWORDS = frozenset(
    {
        # assertions whose check costs at most the size of the value they apply to
        "type", "enum", "const", "required", "minItems", "maxItems", "minLength", "maxLength",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minProperties", "maxProperties", "dependentRequired", "minContains", "maxContains",
        # applicators that give each value below them at most two subschemas
        "properties", "additionalProperties", "items", "prefixItems", "contains",
        "propertyNames",
        # annotations, asserting nothing (formats are not asserted here)
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default",
        "examples", "deprecated", "readOnly", "writeOnly", "format", "contentMediaType",
        "contentEncoding",
    }
)  # fmt: skip
_SCHEMA_MAPS = frozenset({"properties"})
_SCHEMA_LISTS = frozenset({"prefixItems"})
_ONE_SCHEMA = frozenset({"additionalProperties", "items", "contains", "propertyNames"})
MAX_LINEAR_NODES = 512
"""The most subschemas a schema checked in this process may have."""
MAX_LINEAR_ENUM = 256
"""The most values an ``enum`` of a schema checked in this process may list."""


def checks_in_linear_time(schema: Any) -> bool:
    """Whether checking any instance against ``schema`` costs at most the instance's size
    times a small constant, whoever wrote the schema: every keyword is one whose check is
    linear, no value meets more than two subschemas (no ``anyOf``, ``allOf``, ``oneOf``,
    ``not``, ``if``: each would multiply the work per value, and keep every branch's errors),
    nothing recurses (no ``$ref``), and the schema is small (``MAX_LINEAR_NODES`` subschemas,
    ``enum`` of ``MAX_LINEAR_ENUM`` values). An unknown keyword answers ``False``; so does a
    schema that is not well-formed."""
    stack = [schema]
    nodes = 0
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > MAX_LINEAR_NODES:
            return False
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            return False
        for keyword, value in node.items():
            if keyword == "uniqueItems" and value is False:
                continue
            if keyword not in _LINEAR_KEYWORDS:
                return False
            if keyword == "enum" and (not isinstance(value, list) or len(value) > MAX_LINEAR_ENUM):
                return False
            if keyword in _SCHEMA_MAPS:
                if not isinstance(value, dict):
                    return False
                stack.extend(value.values())
            elif keyword in _SCHEMA_LISTS:
                if not isinstance(value, list):
                    return False
                stack.extend(value)
            elif keyword in _ONE_SCHEMA:
                stack.append(value)
    return True
