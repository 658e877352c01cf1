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
        # assertions whose check costs at most the size of the instance
        "type", "enum", "const", "required", "minItems", "maxItems", "minLength", "maxLength",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minProperties", "maxProperties", "dependentRequired", "minContains", "maxContains",
        # applicators: each applies its subschemas once per value below it
        "properties", "additionalProperties", "items", "prefixItems", "contains",
        "propertyNames", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
        "dependentSchemas",
        # annotations, asserting nothing (formats are not asserted here)
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default",
        "examples", "deprecated", "readOnly", "writeOnly", "format", "contentMediaType",
        "contentEncoding",
    }
)  # fmt: skip
_SCHEMA_MAPS = frozenset({"properties", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def checks_in_linear_time(schema: Any) -> bool:
    """Whether checking any instance against ``schema`` costs at most the instance's size
    times a factor of the schema alone: every keyword is one whose check is linear, and
    nothing recurses (no ``$ref``). A costly keyword (``pattern``, ``uniqueItems``,
    ``unevaluatedProperties``...) or an unknown one answers ``False``; so does a schema that
    is not well-formed. For trusted schemas only: the factor of a hostile one can be huge."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            return False
        for keyword, value in node.items():
            if keyword == "uniqueItems" and value is False:
                continue
            if keyword not in _LINEAR_KEYWORDS:
                return False
            if keyword in _SCHEMA_MAPS:
                if not isinstance(value, dict):
                    return False
                stack.extend(value.values())
            elif keyword in _SCHEMA_LISTS:
                if not isinstance(value, list):
                    return False
                stack.extend(value)
            elif keyword in {"additionalProperties", "items", "contains", "propertyNames",
                             "not", "if", "then", "else"}:  # fmt: skip
                stack.append(value)
    return True
