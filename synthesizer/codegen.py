"""The code-generation extension point.

A code generator turns a ``PluginSpec`` into the source of the plugin's ``logic`` module: a
function ``compute(input: dict) -> dict``. Everything else (hooks, packaging, tests) comes from
the plugin template, so a generator writes only the part that differs between plugins.

Generators are found through the ``planexe.codegen`` entry-point group; this distribution
registers the offline ``rules`` generator. An LLM backend plugs in by registering another name;
the synthesizer never changes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from plan_pipeline.contract import Example
from plan_pipeline.extension_points import load_named, names_in
from plan_pipeline.spec import PluginSpec
from synthesizer.errors import SynthesizerError

CODEGEN_GROUP = "planexe.codegen"
DEFAULT_CODEGEN = "rules"


class GeneratedLogic(BaseModel):
    """What a code generator produced."""

    generator: str
    source: str
    """Python source of the plugin's ``logic`` module; it defines ``compute(input)``."""
    extra_examples: list[Example] = Field(default_factory=list)
    """More golden examples the generator says its code satisfies: the contract tests check
    them beside the spec's (they can only add checks)."""


@runtime_checkable
class CodeGenerator(Protocol):
    """Writes a plugin's ``logic`` module from a spec."""

    name: str

    def generate(self, spec: PluginSpec) -> GeneratedLogic:
        """Return the logic module, or raise ``UnsupportedSpecError`` saying what is missing."""
        ...


def find_code_generator(name: str = DEFAULT_CODEGEN) -> CodeGenerator:
    """Load the code generator registered as ``name`` in ``planexe.codegen``."""
    found = load_named(CODEGEN_GROUP, name)
    if found is None:
        raise SynthesizerError(
            f"no code generator named '{name}' is installed (installed: "
            f"{', '.join(names_in(CODEGEN_GROUP)) or 'none'})",
            f"Install a package that registers it in the '{CODEGEN_GROUP}' entry-point group",
        )
    generator, target = found
    if not isinstance(generator, CodeGenerator):
        raise SynthesizerError(
            f"code generator '{name}' ({target}) does not implement generate()",
            "Fix or uninstall the package that registers it",
        )
    return generator
