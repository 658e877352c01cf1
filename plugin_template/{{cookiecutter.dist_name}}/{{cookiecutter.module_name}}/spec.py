"""The spec this plugin was made from: schemas, rules, constraints and golden examples."""

import json

SPEC = json.loads(
    r"""
{{ cookiecutter._spec | jsonify(2) }}
"""
)
