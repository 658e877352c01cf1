"""Near matches: a published plugin of another capability that may serve a new contract.

A miss in publish mode first looks for plugins the hub already serves whose contracts look like
the new one (``fit``), then writes, for each of the best few, an adapter: the candidate's own
``logic`` module, unchanged, followed by a generated field mapping (``adapter``) that renames the
new contract's input fields to the candidate's and the candidate's output fields back. The
adapter is a plugin of the new capability, made from the new spec and checked by every gate
like generated code: static analysis, the audit, and the contract tests of the new contract in
the sandbox. Nothing of the logic is synthesized; the gates decide whether the candidate really
serves the contract, so a candidate that only looks similar is refused by them.

The fit score is lexical (no embedding model ships with its weights for 2 cores here): the
Jaccard similarity of the two contracts' field names (input and output, at every depth),
weighted 0.6, and of the words of their capability names, summaries and descriptions, weighted
0.4. Candidates below ``MIN_FIT`` are not tried; at most ``TOP_K`` are.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from plan_pipeline.published_wheel import PublishedPlugin
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import GeneratedLogic

TOP_K = 3
"""The most candidates tried, best fit first."""
MIN_FIT = 0.3
"""The least fit score of a candidate worth its gates."""
MAX_FIELDS = 200
"""The most fields of one object a mapping pairs (a larger contract is not a candidate)."""
MAX_LOGIC_CHARS = 256 * 1024
"""The longest adapter module: what the hub takes as a plugin's logic."""
GENERATOR = "near-match"
"""The generator's name in the test report and the hub's record."""
FIELD_WEIGHT = 0.6
WORD_WEIGHT = 0.4
_STOP_WORDS = frozenset({"a", "an", "and", "as", "by", "each", "every", "for", "in", "it", "of",
                         "on", "or", "the", "to", "with", "its", "is", "from", "into"})  # fmt: skip

Tree = dict[str, tuple[str, "Tree | None"]]
"""A field mapping: each key of a value becomes the named key, its value mapped by the subtree
(``None``: kept as it is). Keys a mapping does not name are left out."""


class Unaligned(ValueError):
    """The two schemas cannot be paired field by field; the message names the field."""


@dataclass(frozen=True)
class Adapter:
    """A candidate and the mapping that may make it serve the new contract."""

    candidate: PublishedPlugin
    fit: float
    inputs: Tree | None
    """``None``: the input passes as it is (a schema of no known fields)."""
    outputs: Tree | None

    @property
    def direct(self) -> bool:
        """No field renamed: the candidate serves the contract as it is."""
        return not renamed(self.inputs) and not renamed(self.outputs)

    def describe(self) -> str:
        renames = renamed(self.inputs) + [f"output {r}" for r in renamed(self.outputs)]
        how = "directly" if not renames else "renaming " + ", ".join(renames)
        return f"{self.candidate.dist_name} {self.candidate.version} ({how}; fit {self.fit:.2f})"

    def spec_for(self, spec: PluginSpec) -> PluginSpec:
        """The new spec, saying which plugin serves it (signed with the release: the spec is in
        its wheel), with the candidate's dependencies (its logic imports them)."""
        dependencies = list(dict.fromkeys([*spec.dependencies, *self.candidate.spec.dependencies]))
        provenance = {
            **spec.provenance,
            "near_match_of": f"{self.candidate.dist_name}=={self.candidate.version}",
            "near_match_logic_sha256": self.candidate.logic_sha256,
            "near_match_mapping": self.mapping(),
        }
        return spec.model_copy(update={"dependencies": dependencies, "provenance": provenance})

    def mapping(self) -> str:
        """The field mapping as the spec records it (JSON, or its sha256 when long)."""
        return _bounded(json.dumps([self.inputs, self.outputs], sort_keys=True))

    def logic(self) -> GeneratedLogic:
        """The candidate's module, unchanged, then the mapping around its ``compute``."""
        candidate = self.candidate
        tag = candidate.logic_sha256[:8]  # names of their own, whatever the module holds
        source = (
            candidate.logic.rstrip()
            + f"""


# Near match: this capability is served by the logic above, of {candidate.dist_name}
# {candidate.version} ({candidate.spec.capability}), through a generated field mapping.
_near_match_{tag}_input = {self.inputs!r}
_near_match_{tag}_output = {self.outputs!r}
_near_match_{tag}_served = compute


def _near_match_{tag}_renamed(value, tree):
    if tree is None:
        return value
    if isinstance(value, list):
        return [_near_match_{tag}_renamed(item, tree) for item in value]
    if isinstance(value, dict):
        return {{
            tree[key][0]: _near_match_{tag}_renamed(item, tree[key][1])
            for key, item in value.items()
            if key in tree
        }}
    return value


def compute(input):
    served = _near_match_{tag}_served(_near_match_{tag}_renamed(input, _near_match_{tag}_input))
    return _near_match_{tag}_renamed(served, _near_match_{tag}_output)
"""
        )
        return GeneratedLogic(generator=GENERATOR, source=source)


def adapter_in(source: str, candidate: PublishedPlugin) -> Adapter | None:
    """The adapter of ``candidate`` whose module is ``source``, exactly as ``Adapter.logic``
    writes it with the mapping ``source`` states; ``None`` for any other text (a module that
    changes the candidate's logic, or does more than map its fields)."""
    tag = candidate.logic_sha256[:8]
    wanted = {f"_near_match_{tag}_input": "inputs", f"_near_match_{tag}_output": "outputs"}
    stated: dict[str, Any] = {}
    try:
        for node in ast.parse(source).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in wanted
            ):
                stated[wanted[node.targets[0].id]] = ast.literal_eval(node.value)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    if set(stated) != {"inputs", "outputs"}:
        return None
    made = Adapter(candidate, 0.0, stated["inputs"], stated["outputs"])
    return made if made.logic().source.rstrip() == source.rstrip() else None


def _bounded(text: str, most: int = 2000) -> str:
    """``text`` whole, or its sha256 when longer than ``most`` characters (never cut)."""
    if len(text) <= most:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def words(*texts: str) -> set[str]:
    """The lowercase words of ``texts`` (split at anything not a letter or digit)."""
    found = {w for text in texts for w in re.split(r"[^a-z0-9]+", text.lower())}
    return {w for w in found if len(w) > 1 and w not in _STOP_WORDS}


def field_names(schema: Any) -> set[str]:
    """Every property name of a JSON schema, at any depth."""
    names: set[str] = set()
    if isinstance(schema, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            names |= set(properties)
            for sub in properties.values():
                names |= field_names(sub)
        names |= field_names(schema.get("items"))
    return names


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def name_fit(capability: str, summary: str, other_capability: str, other_summary: str) -> float:
    """The words' part of the fit, from what a listing shows (to choose which wheels to read)."""
    return _jaccard(words(capability, summary), words(other_capability, other_summary))


def fit(new: PluginSpec, old: PluginSpec) -> float:
    """How alike two contracts look, from 0 to 1 (see the module's docstring)."""
    fields = _jaccard(
        field_names(new.input_schema) | field_names(new.output_schema),
        field_names(old.input_schema) | field_names(old.output_schema),
    )
    said = _jaccard(
        words(new.capability, new.summary, new.description),
        words(old.capability, old.summary, old.description),
    )
    return round(FIELD_WEIGHT * fields + WORD_WEIGHT * said, 3)


def adapter(new: PluginSpec, candidate: PublishedPlugin) -> Adapter:
    """The candidate with the mapping of the new contract's fields onto its own;
    ``Unaligned`` if a field one side needs has no partner on the other."""
    return Adapter(
        candidate,
        fit(new, candidate.spec),
        # the candidate must get every input it requires, from the new contract's inputs
        inputs=_align(candidate.spec.input_schema, new.input_schema, "input"),
        # the new contract must get every output it requires, from the candidate's outputs
        outputs=_align(new.output_schema, candidate.spec.output_schema, "output"),
    )


def renamed(tree: Tree | None, at: str = "") -> list[str]:
    """``a.b -> c`` for every key the mapping renames, at any depth."""
    found: list[str] = []
    for key, (to, sub) in (tree or {}).items():
        if key != to:
            found.append(f"{at}{key} -> {to}")
        found += renamed(sub, f"{at}{key}.")
    return found


def _align(want: Any, have: Any, where: str) -> Tree | None:
    """The mapping that gives a value of schema ``want`` from one of schema ``have``: keyed
    by ``have``'s field names, each to its partner in ``want``, recursively. A field ``want``
    requires pairs with a field of the same name, else with the free field of a compatible kind
    whose name shares most words with it (declaration order breaks ties)."""
    want_kind, have_kind = _kind(want), _kind(have)
    if not _compatible(want_kind, have_kind):
        raise Unaligned(f"{where} is {have_kind} on one side, {want_kind} on the other")
    if want_kind == "array":
        return _align(want.get("items", {}), have.get("items", {}), f"{where}[]")
    wanted, offered = _fields(want), _fields(have)
    if want_kind != "object" or not wanted or not offered:
        return None  # not an object of known fields: passed as it is
    if len(wanted) > MAX_FIELDS or len(offered) > MAX_FIELDS:
        raise Unaligned(f"{where} has more than {MAX_FIELDS} fields")
    pairs: dict[str, str] = {}
    for name in wanted:
        if name in offered and _compatible(_kind(wanted[name]), _kind(offered[name])):
            pairs[name] = name
    used = set(pairs.values())
    offered_words = {other: words(other) for other in offered}
    for name in wanted:
        if name in pairs:
            continue
        kind = _kind(wanted[name])
        free = [o for o in offered if o not in used and _compatible(kind, _kind(offered[o]))]
        if free:
            own = words(name)
            pairs[name] = max(free, key=lambda o: len(offered_words[o] & own))
            used.add(pairs[name])
    required = [name for name in want.get("required", []) if name not in pairs]
    if required:
        raise Unaligned(f"nothing on the other side gives {where}.{required[0]}")
    return {
        pairs[name]: (name, _align(wanted[name], offered[pairs[name]], f"{where}.{name}"))
        for name in wanted
        if name in pairs
    }


def _fields(schema: Any) -> dict[str, Any]:
    """An object schema's fields: its properties, and the names it requires without
    describing them (of any kind)."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    fields = dict(properties) if isinstance(properties, dict) else {}
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if isinstance(name, str):
            fields.setdefault(name, {})
    return fields


def _kind(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(schema.get("properties"), dict) or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return ""


def _compatible(a: str, b: str) -> bool:
    numbers = {"integer", "number"}
    return not a or not b or a == b or (a in numbers and b in numbers)
