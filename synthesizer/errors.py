"""The error root of ``synthesizer``.

``SynthesizerError`` derives from the pipeline's ``PlanPipelineError`` so that a run that
synthesizes reports a synthesis failure like any other stage failure: one line, problem and fix,
exit code 3 (the capability is still missing). Everything done before the failure is kept.
"""

from __future__ import annotations

from typing import Any

from plan_pipeline.errors import ContractLanguageError, PlanPipelineError


class SynthesizerError(PlanPipelineError):
    """Root of every synthesizer error."""

    exit_code = 3


class UnsupportedSpecError(SynthesizerError, ContractLanguageError):
    """The code generator cannot express (part of) the spec (a rule or constraint outside
    the contract language is a ``ContractLanguageError``, this one's base)."""


class SpecFileError(SynthesizerError):
    """A spec file cannot be read or is not a valid ``PluginSpec``."""

    exit_code = 2


class BuildError(SynthesizerError):
    """Rendering or building the plugin failed."""


class GateFailedError(SynthesizerError):
    """A verification gate rejected the plugin; the report says which and why.

    ``report`` is that ``TestReport`` (already written next to the wheel)."""

    report: Any = None
    report_path: Any = None


class LLMError(SynthesizerError):
    """The LLM backend failed: its configuration, its provider, or the model's answers."""


class LLMConfigError(LLMError):
    """The LLM configuration file or an entry of it is not usable."""

    exit_code = 2
