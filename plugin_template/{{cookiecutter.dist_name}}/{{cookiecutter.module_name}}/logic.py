{%- if cookiecutter._generated -%}
{{ cookiecutter._logic }}
{%- else -%}
"""Logic of the '{{ cookiecutter.capability }}' capability: edit ``compute`` to implement it."""

from __future__ import annotations

from typing import Any


def compute(input: dict[str, Any]) -> dict[str, Any]:
    """The area of the rectangle ``input['width']`` by ``input['height']``."""
    return {"area": input["width"] * input["height"]}
{%- endif %}
