"""Rules for capability names.

A capability name is the entry-point name of a plugin and part of generated package names, so
it must stay a plain dotted identifier: lowercase segments of letters, digits and underscores,
each starting with a letter, at least two segments, at most 64 characters in all. Nothing in it
can become a path, a shell word or a package-name trick.
"""

from __future__ import annotations

import re

from plan_pipeline.errors import CapabilityNameError

MAX_LENGTH = 64
_SEGMENT = r"[a-z][a-z0-9_]*"
_PATTERN = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})+")
CAPABILITY_PATTERN = f"^{_PATTERN.pattern}$"
"""The naming rule as a JSON-schema ``pattern`` (with ``MAX_LENGTH``), for API descriptions."""


def is_valid_capability_name(name: object) -> bool:
    """Tell whether ``name`` follows the capability naming rules."""
    return isinstance(name, str) and len(name) <= MAX_LENGTH and bool(_PATTERN.fullmatch(name))


def validate_capability_name(name: object) -> str:
    """Return ``name`` if it is a valid capability name, else raise ``CapabilityNameError``."""
    if is_valid_capability_name(name):
        assert isinstance(name, str)
        return name
    shown = repr(name)[:80]
    if isinstance(name, str) and len(name) > MAX_LENGTH:
        reason = f"it is {len(name)} characters long (at most {MAX_LENGTH})"
    else:
        reason = "it must be dotted lowercase segments such as 'risk.score_matrix'"
    raise CapabilityNameError(
        f"invalid capability name {shown}: {reason}",
        "Use letters a-z, digits and underscores, segments separated by dots, "
        "each segment starting with a letter",
    )


def package_slug(name: str) -> str:
    """The capability as an identifier: ``risk.score_matrix`` -> ``risk_score_matrix``."""
    return validate_capability_name(name).replace(".", "_")


GENERATED_DIST_PREFIX = "planexe-gen-"
"""Generated plugins live in one namespace, apart from public package names."""


def generated_dist_name(capability: str) -> str:
    """The distribution a generated plugin for ``capability`` is published as."""
    return GENERATED_DIST_PREFIX + package_slug(capability).replace("_", "-")
