"""The error root of ``plan_pipeline``: every failure a user can act on is one of these.

Each error carries the problem and, where there is one, the fix. The command line prints
``str(error)`` on one line and exits with ``exit_code``: 2 for bad input (plan file, run
directory, stage data), 3 when a run stops because a capability is missing, 1 when a plugin
itself fails.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with every control character (newline, escape...) shown as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class PlanPipelineError(Exception):
    """Root of all errors the pipeline reports to its user."""

    exit_code = 2
    listing = False
    """Whether the problem may be a list: its first line, then one line per item (each line
    still shown as one line, whatever the items hold)."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        # one line whatever a plugin, a file or a distribution's metadata put into the text
        if self.listing:
            self.problem = "\n".join(one_line(line) for line in problem.split("\n"))
        else:
            self.problem = one_line(problem)
        self.fix = one_line(fix) if fix is not None else None
        super().__init__(self.problem)

    def __str__(self) -> str:
        if self.fix and self.listing and "\n" in self.problem:
            return f"{self.problem}\n{self.fix}"
        return f"{self.problem}. {self.fix}" if self.fix else self.problem

    def in_context(self, prefix: str, then: str | None = None) -> PlanPipelineError:
        """This error with ``prefix`` before its problem and ``then`` after its fix."""
        self.problem = one_line(f"{prefix}: {self.problem}")
        self.fix = one_line("; ".join(part for part in (self.fix, then) if part)) or None
        self.args = (self.problem,)
        return self


class ContractLanguageError(PlanPipelineError):
    """A contract's rule or constraint is outside the contract language (``RULES.md``)."""

    exit_code = 3


class MissingExtraError(PlanPipelineError):
    """A command needs an optional part of this project that is not installed."""


class PlanFileError(PlanPipelineError):
    """The plan file cannot be read, parsed or is inconsistent."""


class CapabilityNameError(PlanPipelineError):
    """A capability name breaks the naming rules."""


class RunDirError(PlanPipelineError):
    """The run directory cannot be created or written."""


class HostDistributionsError(PlanPipelineError):
    """``PLANEXE_HOST_DISTRIBUTIONS`` names a distribution without the folder of its code."""


class StageInputError(PlanPipelineError):
    """A stage's inputs cannot be gathered or break the input schema."""


class StageOutputError(PlanPipelineError):
    """A stage's output breaks the output schema."""


class PluginLoadError(PlanPipelineError):
    """An installed plugin cannot be imported or breaks the plugin contract."""

    exit_code = 1


class PluginRunError(PlanPipelineError):
    """A plugin raised an exception while running a stage."""

    exit_code = 1


class ContractViolationError(PluginRunError):
    """A sandboxed plugin's answer broke its stage contract (checked at run time); the plugin
    (``dist_name`` ``version``) was quarantined and ``violation`` says what it broke."""

    def __init__(
        self, problem: str, fix: str, *, dist_name: str, version: str, violation: str
    ) -> None:
        super().__init__(problem, fix)
        self.dist_name = dist_name
        self.version = version
        self.violation = one_line(violation)[:500]


class CapabilityNotFoundError(PlanPipelineError):
    """No installed plugin provides a capability a stage needs (in the wanted version)."""

    exit_code = 3

    def __init__(
        self,
        capability: str,
        version: str | None = None,
        excluded: list[str] | None = None,
        stage: str | None = None,
    ) -> None:
        self.capability = capability
        self.version = version
        self.excluded = excluded or []
        self.stage = stage
        wanted = f"{capability}{version}" if version else capability
        where = f"stage '{stage}' needs capability '{wanted}'" if stage else f"'{wanted}'"
        problem = f"{where}, which no installed plugin provides"
        if self.excluded:
            problem += f" (not usable: {'; '.join(self.excluded)})"
        super().__init__(problem)


class SynthesisStop(PlanPipelineError):
    """The run stopped at a missing capability after writing what the user needs next."""

    exit_code = 3


class SynthesisUnavailableError(PlanPipelineError):
    """The synthesis mode asks for a plugin synthesizer that is not installed or failed."""

    exit_code = 3


class SandboxUnavailableError(PlanPipelineError):
    """The host cannot provide the isolation that untrusted plugin code requires."""

    exit_code = 3


class PluginWorkerError(PlanPipelineError):
    """A sandboxed plugin worker crashed, hung, exceeded a limit or broke the protocol."""

    exit_code = 1
