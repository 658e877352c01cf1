"""The LLM backend of the code-generation extension point (``planexe.codegen`` name ``llm``).

It asks a model configured like PlanExe's ``llm_config.json`` (``llm_config.py``) to write the
plugin's ``logic`` module from the spec (``llm_prompt.py``), through the ``openai`` client
(``llm_client.py``). What the model writes is untrusted code: it goes through exactly the
gates the rules generator's code does, static analysis first, and cannot change how the
plugin is packaged or tested. The repair loop (``llm_synthesis.py``) sends the gates'
findings back for another round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import GeneratedLogic
from synthesizer.errors import LLMConfigError, LLMError
from synthesizer.llm_client import Completion, FallbackChat, Message
from synthesizer.llm_config import AUTO, CONFIG_ENV, LLMConfig, configured
from synthesizer.llm_prompt import (
    Conversation,
    ParsedAnswer,
    UnusableAnswer,
    first_prompt,
    parse_answer,
)

NAME = "llm"


class Chat(Protocol):
    """Anything that answers a list of chat messages (``FallbackChat``, a provider)."""

    names: list[str]

    def complete(
        self,
        messages: Sequence[Message],
        min_temperature: float | None = None,
        first_entry: int = 0,
    ) -> Completion: ...


USABLE_ANSWER = (
    "Answer with one fenced python block holding the whole module, which defines compute(input)."
)
SHORTER_ANSWER = (
    "Your answer was cut off at the token limit before it ended. Answer again, shorter: "
    "the whole module in one fenced python block, without comments, docstrings or an "
    "examples block."
)


@dataclass(frozen=True)
class Answer:
    """One round's answer: the completion, and the parsed module or why there is none (and
    what the next round asks for)."""

    completion: Completion
    parsed: ParsedAnswer | None
    problem: str | None
    retry: str = USABLE_ANSWER


class LLMCodeGenerator:
    """Writes ``compute()`` with a model. Without arguments, the model comes from
    ``PLANEXE_LLM_CONFIG`` and ``PLANEXE_LLM`` (``auto``: every entry by priority)."""

    name = NAME

    def __init__(
        self,
        chat: Chat | None = None,
        on_event: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self._chat = chat
        self._on_event = on_event

    @classmethod
    def from_config(
        cls,
        path: Path | None,
        choice: str | None,
        on_event: Callable[[str], None] = lambda _line: None,
    ) -> LLMCodeGenerator:
        """The generator for entry ``choice`` of the configuration at ``path`` (else the
        environment's)."""
        if path is not None:
            config, default = LLMConfig.read(path), AUTO
        else:
            found = configured()
            if found is None:
                raise LLMConfigError(
                    "the LLM backend has no configuration",
                    f"Pass --llm-config FILE or set {CONFIG_ENV} (see docs/LLM.md)",
                )
            config, default = found
        return cls(FallbackChat(config, choice or default, on_event), on_event)

    @property
    def chat(self) -> Chat:
        if self._chat is None:
            self._chat = LLMCodeGenerator.from_config(None, None, self._on_event).chat
        return self._chat

    def ask(self, conversation: Conversation) -> Answer:
        """The model's answer to ``conversation``, parsed (never run)."""
        completion = self.chat.complete(
            conversation.messages, conversation.min_temperature, conversation.first_entry
        )
        try:
            return Answer(completion, parse_answer(completion.text), None)
        except UnusableAnswer as exc:
            if completion.finish_reason == "length":
                cut = (
                    f"the answer was cut off at the token limit after "
                    f"{completion.completion_tokens} tokens, before its code ended"
                )
                return Answer(completion, None, cut, SHORTER_ANSWER)
            return Answer(completion, None, f"the answer has no usable code: {exc}")

    def generate(self, spec: PluginSpec) -> GeneratedLogic:
        """One round, no repair (the ``CodeGenerator`` protocol); the synthesizer's repair loop
        asks again with the gates' findings."""
        answer = self.ask(first_prompt(spec))
        if answer.parsed is None:
            raise LLMError(
                f"the model wrote no usable code for '{spec.capability}': {answer.problem}",
                "Try another model (--llm) or more rounds",
            )
        return logic_of(answer.parsed)


def logic_of(parsed: ParsedAnswer) -> GeneratedLogic:
    return GeneratedLogic(
        generator=NAME, source=parsed.source, extra_examples=parsed.extra_examples
    )
