"""A corpus of capability specs written the way plan authors write them (issue 11).

``specs/`` holds one YAML file per capability: the author's natural-language constraints and
the ``PluginSpec`` written from them (schemas, rules, constraints, visible examples).
``hidden.py`` holds what the generator never sees: hidden inputs and a plain-Python reference
function per capability that computes their expected outputs.

``specs/harder/`` is the harder corpus: specs written without knowing the gate (amounts with a
minimum and no maximum, optional fields, empty lists, free text, keys that are Python keywords,
dates), with their hidden cases in ``hidden.HARDER_HIDDEN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from plan_pipeline.spec import PluginSpec

SPECS = Path(__file__).parent / "specs"
HARDER_SPECS = SPECS / "harder"


def load_corpus(folder: Path = SPECS) -> dict[str, tuple[list[str], PluginSpec]]:
    """Every spec of ``folder`` by capability: its natural-language constraints and the spec."""
    corpus: dict[str, tuple[list[str], PluginSpec]] = {}
    for path in sorted(folder.glob("*.yaml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        if set(data) != {"natural_language", "spec"}:
            raise ValueError(f"{path.name}: holds {sorted(data)}, not natural_language and spec")
        spec = PluginSpec.model_validate(data["spec"])
        if spec.capability in corpus:
            raise ValueError(f"{path.name}: capability {spec.capability} is specified twice")
        corpus[spec.capability] = ([str(line) for line in data["natural_language"]], spec)
    return corpus
