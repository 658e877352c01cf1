"""The spec this plugin was made from: schemas, rules, constraints and golden examples."""

import json

SPEC = json.loads(
    r"""
{% if cookiecutter._generated %}{{ cookiecutter._spec_json }}{% else %}{{ cookiecutter._spec | jsonify(2) }}{% endif %}
"""
)
