"""Refuse names that would make a broken or unsafe plugin (runs when rendering by hand)."""

import re
import sys

capability = "{{ cookiecutter.capability }}"
module = "{{ cookiecutter.module_name }}"
version = "{{ cookiecutter.version }}"

if len(capability) > 64 or not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", capability):
    sys.exit(
        f"error: invalid capability name {capability!r}: use dotted lowercase segments such as "
        "'risk.score_matrix' (letters, digits, underscores; at most 64 characters)"
    )
if not re.fullmatch(r"[a-z_][a-z0-9_]*", module):
    sys.exit(f"error: invalid module name {module!r}: use a lowercase Python identifier")
if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", version):
    sys.exit(f"error: invalid version {version!r}: use numbers separated by dots, e.g. 1.0.0")
