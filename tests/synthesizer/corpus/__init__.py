"""A corpus of capability specs written the way plan authors write them (issue 11).

``specs/`` holds one YAML file per capability: the author's natural-language constraints and
the ``PluginSpec`` written from them (schemas, rules, constraints, visible examples).
``hidden.py`` holds what the generator never sees: hidden inputs and a plain-Python reference
function per capability that computes their expected outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from plan_pipeline.spec import PluginSpec

SPECS = Path(__file__).parent / "specs"


def load_corpus() -> dict[str, tuple[list[str], PluginSpec]]:
    """Every corpus spec by capability: its natural-language constraints and the spec."""
    corpus: dict[str, tuple[list[str], PluginSpec]] = {}
    for path in sorted(SPECS.glob("*.yaml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        if set(data) != {"natural_language", "spec"}:
            raise ValueError(f"{path.name}: holds {sorted(data)}, not natural_language and spec")
        spec = PluginSpec.model_validate(data["spec"])
        if spec.capability in corpus:
            raise ValueError(f"{path.name}: capability {spec.capability} is specified twice")
        corpus[spec.capability] = ([str(line) for line in data["natural_language"]], spec)
    return corpus
