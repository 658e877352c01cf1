"""What the LLM backend sends a model, and how it reads the answer.

The prompt is built from the spec alone: its schemas, rules, constraints, golden examples,
permissions and dependencies, the modules the static-analysis gate allows, and the template's
``compute`` contract. A repair round adds the model's last answer and what the gates found.

The answer is parsed, never run: its first fenced ``python`` block that defines ``compute``
becomes the plugin's ``logic`` module, and an optional fenced ``json`` block of extra golden
examples becomes more checks for the contract tests (they can only add to the spec's). The
code then goes through every gate, static analysis first.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field, replace

from pydantic import TypeAdapter, ValidationError

from plan_pipeline.contract import Example
from plan_pipeline.spec import PluginSpec
from synthesizer.audit import ALLOWED_DEPENDENCIES
from synthesizer.code_policy import DANGEROUS_NAMES, FORBIDDEN_BUILTINS, allowed_modules
from synthesizer.report import GateResult

MAX_CODE_BYTES = 64 * 1024
MAX_EXTRA_EXAMPLES = 20
_FEEDBACK_FINDINGS = 12
MAX_ANSWER_CHARS = 512 * 1024
"""The longest answer read; a longer one is refused whole."""
_EXAMPLES: TypeAdapter[list[Example]] = TypeAdapter(list[Example])

Message = dict[str, str]

SYSTEM_PROMPT = """\
You write the logic module of a PlanExe plugin for Python {python}. The plugin template \
supplies everything else (hooks, packaging, tests); you write one module that defines \
compute, like this (it compiles as shown):

    from typing import Any


    def compute(input: dict[str, Any]) -> dict[str, Any]:
        ...

compute receives the capability's input (a JSON object that follows the input schema) and \
returns its output (a JSON object that must follow the output schema, every constraint and \
every golden example). compute must be a pure function of its input: no input() or print(), \
no files, no network, no processes, no environment, no global state, unless the spec's \
permissions grant it.

Static analysis checks the module before anything runs. It refuses:
- imports of modules not in the list below, and star imports (from m import *); import \
only the modules you use;
- names used but never defined or imported (each must be a built-in, imported or assigned; \
JSON's true, false and null are True, False and None in Python);
- syntax Python {python} does not accept;
- dunder names and attributes (anything like __x__ except __name__ and __doc__), and names \
a module does not have;
- these names of the allowed modules: {denied};
- assert statements and anything else bandit flags (check a value with if and raise \
ValueError instead);
- the built-ins {forbidden};
- getattr/hasattr except with a constant public name; str.format except on a constant \
string; decorators other than dataclass, cache, lru_cache, property, staticmethod and \
classmethod.

Answer with exactly one fenced code block tagged python holding the whole module. You may \
add one fenced code block tagged json holding a list of extra golden examples \
([{{"input": {{...}}, "output": {{...}}}}]) that your code must satisfy; they are checked too.
"""
EDGE_CASES = (
    "The contract tests call compute with the golden examples and with many inputs drawn "
    "from the whole input schema: empty lists, zeros, the smallest and largest values it "
    "allows. Handle every one (no division by zero, no max() or min() of an empty list). "
    "Match the golden outputs exactly: the same keys, numbers rounded the same way, text "
    "formatted character for character."
)
REPEAT_TEMPERATURES = (0.7, 1.0)
"""The least sampling temperature of a fresh start after the first repeated answer, and after
any later one."""
SAMPLE_TEMPERATURE = 0.8
"""The least sampling temperature of the first round's extra samples (``--samples``)."""
TARGET_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
"""The Python the plugin runs on: the gates' and the workers' own."""


@dataclass
class Conversation:
    """The messages of one synthesis with a model, growing with each repair round, and how
    the next answer is sampled."""

    messages: list[Message] = field(default_factory=list)
    min_temperature: float | None = None
    """At least this sampling temperature (``None``: the entry's own)."""
    first_entry: int = 0
    """The configured entry asked first (the others follow in order, wrapping around)."""

    def digest(self) -> str:
        """sha256 of the messages as sent (the prompt's digest in the test report)."""
        data = json.dumps(self.messages, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(data).hexdigest()

    def followed_by(self, answer: str, feedback: str) -> Conversation:
        """This conversation, sampled alike, with the model's answer and what it is told next."""
        added = [{"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]
        return replace(self, messages=self.messages + added)


def first_prompt(spec: PluginSpec) -> Conversation:
    """The conversation's opening: the rules of the game, then the spec."""
    own = {m for d in spec.dependencies for m in ALLOWED_DEPENDENCIES.get(_name(d), ())}
    modules = sorted(allowed_modules(spec.permissions, own) - {"__future__"})
    denied = sorted(
        f"{m}.{n}" for m, names in DANGEROUS_NAMES.items() if m in modules for n in names
    )
    system = SYSTEM_PROMPT.format(
        forbidden=", ".join(sorted(FORBIDDEN_BUILTINS)),
        python=TARGET_PYTHON,
        denied=", ".join(denied) or "none",
    )
    parts = []
    if spec.description.strip():
        parts.append(f"What the stage is for, in its author's words:\n{spec.description.strip()}")
    parts += [
        f"Capability: {spec.capability}",
        f"What it does: {spec.summary or '(no summary: infer it from the schemas and examples)'}",
        "Input schema (JSON Schema 2020-12):\n" + _json(spec.input_schema),
        "Output schema (JSON Schema 2020-12):\n" + _json(spec.output_schema),
    ]
    if spec.rules:
        rules = "\n".join(
            f"- output.{rule.set} = {rule.expr}"
            if rule.set is not None
            else f"- {rule.let} = {rule.expr}  (a named value, not an output field)"
            for rule in spec.rules
        )
        parts.append(
            "Rules, in order (Python-like expressions over input, output, item and the names "
            "given before; a path with [*] applies to every item of a list):\n" + rules
        )
    if spec.constraints:
        parts.append(
            "Constraints that must hold for every input (expressions over input and output; "
            "a.b means a['b']):\n" + "\n".join(f"- {c}" for c in spec.constraints)
        )
    if spec.examples:
        examples = [e.model_dump(exclude_defaults=True) for e in spec.examples]
        parts.append("Golden examples (input and the exact expected output):\n" + _json(examples))
    parts.append(EDGE_CASES)
    parts.append(f"Permissions granted: {', '.join(spec.permissions) or 'none'}")
    parts.append(f"Dependencies you may import besides the standard library: "
                 f"{', '.join(spec.dependencies) or 'none'}")  # fmt: skip
    parts.append("Modules you may import (only those you use): " + ", ".join(modules))
    return Conversation(
        [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]
    )


def fresh_start(spec: PluginSpec, feedback: str, repeats: int = 1) -> Conversation:
    """A new conversation for a model that answered with code it had written before: the
    opening prompt, then what that code failed, asking for another approach (the old
    conversation, which led it back to the same code, is dropped). It is sampled hotter with
    each repeat (``REPEAT_TEMPERATURES``), and starts at the next configured entry, so that
    with several entries another model answers."""
    conversation = first_prompt(spec)
    conversation.min_temperature = REPEAT_TEMPERATURES[min(repeats, len(REPEAT_TEMPERATURES)) - 1]
    conversation.first_entry = repeats
    conversation.messages[-1]["content"] += (
        "\n\nA module written for this spec before failed these checks:\n"
        + feedback.split("\n", 1)[-1]
        + "\n\nWrite a module that takes a different approach and passes them."
        + (
            " Keep it short: at most 60 lines, no comments or explanations."
            if "cut off" in feedback
            else ""
        )
    )
    return conversation


def feedback_for(gates: list[GateResult], notes: list[str] | None = None) -> str:
    """What a repair round tells the model: each failed gate with its findings (and what of
    its answer was left out)."""
    lines = ["Your module failed these checks. Fix it and answer with the whole module again."]
    lines += [f"Note: {note}." for note in notes or []]
    for gate in gates:
        if gate.passed or not gate.ran:
            continue
        lines.append(f"\nGate {gate.name} failed: {gate.summary}")
        for finding in gate.findings[:_FEEDBACK_FINDINGS]:
            lines.append(f"- [{finding.rule}] {finding.describe()}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ParsedAnswer:
    source: str
    extra_examples: list[Example]
    notes: list[str] = field(default_factory=list)
    """What of the answer was left out (an unreadable examples block): never the code."""


class UnusableAnswer(ValueError):
    """The answer holds no module the gates could check; the message says why."""


def parse_answer(text: str) -> ParsedAnswer:
    """The logic module and extra examples in a model's answer; ``UnusableAnswer`` if none."""
    if len(text) > MAX_ANSWER_CHARS:
        raise UnusableAnswer(f"it is longer than {MAX_ANSWER_CHARS // 1024} KiB")
    blocks = _fenced_blocks(text)
    candidates = [body for tag, body in blocks if tag in ("python", "py", "")]
    if not candidates and "def compute" in text and "```" not in text:
        candidates = [text]  # a bare module
    if not candidates:
        raise UnusableAnswer("it has no fenced python block")
    why = "no python block defines compute(input) at the top level"
    source = None
    for body in candidates:
        if len(body.encode("utf-8")) > MAX_CODE_BYTES:
            why = f"its python block is longer than {MAX_CODE_BYTES // 1024} KiB"
            continue
        try:
            tree = ast.parse(body)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            message = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
            line = exc.lineno if isinstance(exc, SyntaxError) else None
            why = f"its python block does not parse on Python {TARGET_PYTHON}: {message}" + (
                f" (line {line})" if line else ""
            )
            if "backslash" in message:
                why += "; compute such a value into a name before the f-string uses it"
            continue
        if any(isinstance(n, ast.FunctionDef) and n.name == "compute" for n in tree.body):
            source = body.rstrip() + "\n"
            break
    if source is None:
        raise UnusableAnswer(why)
    extra: list[Example] = []
    notes: list[str] = []
    for tag, body in blocks:
        if tag != "json":
            continue
        try:
            extra = _EXAMPLES.validate_json(body)
        except ValidationError as exc:  # optional: the code stands without it
            notes.append(
                f"your json block was left out, it is not a list of examples: "
                f"{exc.errors()[0]['msg']}"
            )
        break
    return ParsedAnswer(source, extra[:MAX_EXTRA_EXAMPLES], notes)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of ``text`` as (lowercased tag, body), read line by line (in linear
    time, whatever the answer holds); an unclosed block is not a block."""
    blocks: list[tuple[str, str]] = []
    tag: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if tag is None:
            if stripped.startswith("```"):
                tag, body = stripped[3:].strip().split(" ")[0].lower(), []
        elif stripped == "```":
            blocks.append((tag, "\n".join(body) + "\n"))
            tag = None
        else:
            body.append(line)
    return blocks


def code_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].strip().lower()
