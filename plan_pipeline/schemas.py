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
