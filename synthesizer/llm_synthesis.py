"""The repair loop of the LLM backend, and the choice of generator for a pipeline's miss.

``synthesize_with_llm``: the model writes the module, every gate runs on it
(``synthesize_plugin``), and when one fails its findings and the failing tests' output go
back to the model, for up to ``repair_rounds`` rounds. Every round is kept in the test
report (``Attempt``: the prompt's and the code's digests, tokens, latency, gate results).

``synthesize_routed``: a pipeline's synthesis. The configured generator (``rules`` by
default) writes the module; a spec it cannot express goes to the LLM backend when one is
configured, and the progress lines say which generator wrote the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from plan_pipeline.contract_check import translated_constraints
from plan_pipeline.errors import ContractLanguageError, PlanPipelineError
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import find_code_generator
from synthesizer.errors import GateFailedError, LLMError
from synthesizer.llm_codegen import NAME as LLM
from synthesizer.llm_codegen import LLMCodeGenerator, logic_of
from synthesizer.llm_config import configured
from synthesizer.llm_prompt import (
    SAMPLE_TEMPERATURE,
    Conversation,
    code_digest,
    feedback_for,
    first_prompt,
    fresh_start,
)
from synthesizer.report import Attempt, GateOutcome, GateResult, TestReport
from synthesizer.synthesize import Progress, SynthesisOptions, SynthesisResult, synthesize_plugin


def synthesize_with_llm(
    spec: PluginSpec,
    out_dir: Path,
    options: SynthesisOptions,
    progress: Progress,
    generator: LLMCodeGenerator | None = None,
) -> SynthesisResult:
    """The plugin for ``spec`` written by a model and repaired until every gate passes.

    The first round asks for ``options.samples`` answers (the extra ones sampled hotter); the
    first to pass every gate wins, else the repairs go on from the one that passed the most
    gates. An answer whose code an earlier round wrote starts a fresh conversation, hotter and
    at the next configured entry, instead of repeating the request."""
    translated_constraints(spec)  # a spec no plugin could be checked against: before any call
    generator = generator or LLMCodeGenerator.from_config(options.llm_config, options.llm, progress)
    loop = _RepairLoop(spec, out_dir, options, progress, generator)
    conversation = first_prompt(spec)
    rounds = options.repair_rounds
    try:
        for number in range(1, rounds + 1):
            asks = options.samples if number == 1 else 1
            best: _Failed | None = None
            for sample in range(1, asks + 1):
                asked = conversation
                if sample > 1:
                    asked = replace(conversation, min_temperature=SAMPLE_TEMPERATURE)
                outcome = loop.attempt(asked, number, sample, asks)
                if isinstance(outcome, SynthesisResult):
                    return outcome
                if best is None or outcome.passed > best.passed:
                    best = outcome
            assert best is not None
            loop.end_round(best)
            conversation = best.conversation
    except BaseException:  # a provider that failed, a stop: the paid rounds stay on record
        if loop.attempts:
            _write_attempts(spec, out_dir, loop.attempts, loop.last_report)
        raise
    report_path = _write_attempts(spec, out_dir, loop.attempts, loop.last_report)
    raise LLMError(
        f"the LLM backend found no plugin for '{spec.capability}' that passes every gate in "
        f"{rounds} round(s); last: {loop.last_problem}",
        f"See the attempts in {report_path}; raise the rounds (--rounds, PLANEXE_LLM_ROUNDS), "
        "choose another model, or add examples to the spec",
    )


@dataclass(frozen=True)
class _Failed:
    """An answer that did not pass: how far it got (gates passed; -1 for no usable code),
    the conversation to go on with, and what it failed."""

    passed: int
    conversation: Conversation
    problem: str
    report: tuple[TestReport, Path] | None = None


class _RepairLoop:
    """What the rounds of one synthesis share: every attempt, the code already seen, and the
    last failure."""

    def __init__(
        self,
        spec: PluginSpec,
        out_dir: Path,
        options: SynthesisOptions,
        progress: Progress,
        generator: LLMCodeGenerator,
    ) -> None:
        self.spec, self.out_dir, self.options = spec, out_dir, options
        self.progress, self.generator = progress, generator
        self.attempts: list[Attempt] = []
        self.seen_code: set[str] = set()
        """Code of earlier rounds (a round's samples may agree: that is no repeat)."""
        self.seen_unusable: set[str] = set()
        """Answers of earlier rounds that held no usable code (cut off, unparsable)."""
        self._round_unusable: set[str] = set()
        self.repeats = 0
        self.last_problem = ""
        self.last_report: tuple[TestReport, Path] | None = None

    def end_round(self, best: _Failed) -> None:
        """The round's best answer is what the next round repairs and what a failure names."""
        self.last_problem = best.problem
        if best.report is not None:
            self.last_report = best.report
        self.seen_code |= {a.code_sha256 for a in self.attempts if a.code_sha256}
        self.seen_unusable |= self._round_unusable
        self._round_unusable = set()

    def attempt(
        self, conversation: Conversation, number: int, sample: int, samples: int
    ) -> SynthesisResult | _Failed:
        """One answer to ``conversation`` through every gate: the result when it passes, else
        how far it got and the conversation to go on with."""
        progress, rounds = self.progress, self.options.repair_rounds
        tag = f"round {number}" + (f", sample {sample}" if samples > 1 else "")
        shown = f"round {number}/{rounds}" + (f", sample {sample}/{samples}" if samples > 1 else "")
        digest = conversation.digest()
        progress(f"{shown}: asking {' or '.join(self.generator.chat.names)}")
        answer = self.generator.ask(conversation)
        done = answer.completion
        attempt = Attempt(
            round=number,
            sample=sample,
            generator=LLM,
            provider=done.provider,
            model=done.model,
            prompt_sha256=digest,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            latency_s=round(done.seconds, 4),
            cost_usd=done.cost_usd,
        )
        self.attempts.append(attempt)
        progress(
            f"{tag}: {done.model} answered in {done.seconds * 1000:.0f} ms "
            f"({done.prompt_tokens} + {done.completion_tokens} tokens)"
        )
        if answer.parsed is None:
            attempt.problem = answer.problem
            progress(f"{tag}: {answer.problem}")
            told = f"Your answer could not be used: {answer.problem}. {answer.retry}"
            failed = _Failed(-1, conversation.followed_by(done.text, told), str(answer.problem))
            said = code_digest(done.text)
            self._round_unusable.add(said)
            if said in self.seen_unusable:  # the same unusable answer: asking again repeats it
                self.repeats += 1
                attempt.problem = (
                    f"{answer.problem}; the same answer as an earlier round: a fresh "
                    "conversation next"
                )
                progress(f"{tag}: the same answer as an earlier round; starting afresh")
                return replace(failed, conversation=fresh_start(self.spec, told, self.repeats))
            return failed
        attempt.code_sha256 = code_digest(answer.parsed.source)
        repeated = attempt.code_sha256 in self.seen_code
        for note in answer.parsed.notes:
            progress(f"{tag}: {note}")
        try:
            result = synthesize_plugin(
                self.spec, self.out_dir, self.options, progress, logic_of(answer.parsed)
            )
        except GateFailedError as exc:
            report: TestReport = exc.report
            attempt.gates = _outcomes(report.gates)
            report.attempts = list(self.attempts)
            report.write(exc.report_path)
            feedback = feedback_for(report.gates, answer.parsed.notes)
            if number < rounds:
                progress(f"{tag}: {exc.problem}; sending the findings back")
            passed = sum(1 for gate in report.gates if gate.ran and gate.passed)
            failed = _Failed(
                passed, conversation.followed_by(done.text, feedback), exc.problem,
                (report, exc.report_path),
            )  # fmt: skip
            if repeated:  # the same code again: repeating the request would not change it
                self.repeats += 1
                attempt.problem = "the same code as an earlier round: a fresh conversation next"
                progress(f"{tag}: the same code as an earlier round; starting afresh")
                return replace(failed, conversation=fresh_start(self.spec, feedback, self.repeats))
            return failed
        except PlanPipelineError:
            attempt.problem = "the synthesis stopped before its gates (see the error)"
            _write_attempts(self.spec, self.out_dir, self.attempts, self.last_report)
            raise
        attempt.gates = _outcomes(result.report.gates)
        result.report.attempts = self.attempts
        result.report.write(result.report_path)
        return result


def _outcomes(gates: list[GateResult]) -> list[GateOutcome]:
    return [GateOutcome(name=g.name, passed=g.passed, ran=g.ran, summary=g.summary) for g in gates]


def _write_attempts(
    spec: PluginSpec,
    out_dir: Path,
    attempts: list[Attempt],
    last: tuple[TestReport, Path] | None,
) -> Path:
    """The test report with every attempt: the last gates' report, or one of attempts that
    never reached the gates (no usable code in any answer)."""
    from synthesizer.render import PluginNames

    if last is not None:
        report, path = last
        report.attempts = list(attempts)
        path.parent.mkdir(parents=True, exist_ok=True)  # a later round may have cleared it
        return report.write(path)
    names = PluginNames.for_capability(spec.capability)
    report = TestReport(
        capability=spec.capability,
        dist_name=names.dist_name,
        version=spec.version,
        generator=LLM,
        description=spec.description,
        attempts=attempts,
    )
    folder = out_dir / "dist"
    folder.mkdir(parents=True, exist_ok=True)
    return report.write(folder / f"{names.dist_name}-{spec.version}.report.json")


def synthesize_routed(
    spec: PluginSpec, out_dir: Path, options: SynthesisOptions, progress: Progress
) -> SynthesisResult:
    """A pipeline's synthesis: the configured generator, or the LLM backend for a spec the
    rules generator cannot express (when an LLM configuration is set)."""
    if options.codegen == LLM:
        return synthesize_with_llm(spec, out_dir, options, progress)
    generator = find_code_generator(options.codegen)
    try:
        logic = generator.generate(spec)
    except ContractLanguageError as exc:
        if options.llm_config is None and configured() is None:
            raise
        progress(f"the {generator.name} generator cannot write it ({exc.problem}); "
                 "the LLM backend writes it")  # fmt: skip
        return synthesize_with_llm(spec, out_dir, options, progress)
    progress(f"the {generator.name} generator wrote the plugin's logic")
    return synthesize_plugin(spec, out_dir, options, progress, logic)
