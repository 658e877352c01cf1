"""The spec corpus (issue 11): every spec synthesizes offline and gets every hidden case right.

Each spec in ``tests/synthesizer/corpus/specs/`` goes through the real pipeline once
(``synthesize_plugin``: codegen, render, static analysis, build, dependency audit, contract
tests in the bubblewrap sandbox). The built wheel is then unpacked and its plugin run in a
sandboxed worker on the hidden inputs of ``corpus/hidden.py``, and each answer is compared
with the reference function's. The figures (specs synthesized, hidden cases exact) of the
corpus and of the harder corpus (``specs/harder/``: specs written without knowing the gate)
are printed by the last test and in the terminal summary (``tests/synthesizer/conftest.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from plan_pipeline.contract_check import ContractCheck, same
from plan_pipeline.errors import PluginRunError, PluginWorkerError
from plan_pipeline.plugin_worker import PluginWorker
from plan_pipeline.sandbox import BubblewrapSandbox, SandboxLimits
from plan_pipeline.schemas import validator
from plan_pipeline.spec import PluginSpec
from synthesizer.contract_tests import unpack_wheel, wheel_plugin
from synthesizer.errors import SynthesizerError
from synthesizer.synthesize import SynthesisOptions, synthesize_plugin
from tests.synthesizer.corpus import HARDER_SPECS, load_corpus
from tests.synthesizer.corpus.hidden import HARDER_HIDDEN, HIDDEN, Json, Reference

EARLIER = load_corpus()
HARDER = load_corpus(HARDER_SPECS)
CORPUS = {**EARLIER, **HARDER}
ALL_HIDDEN: dict[str, tuple[Reference, list[Json]]] = {**HIDDEN, **HARDER_HIDDEN}
LIMITS = SandboxLimits(cpu_seconds=20, wall_seconds=30)
FIGURES: list[str] = []
"""The corpus figures once measured; the terminal summary prints them."""


@dataclass
class SpecResult:
    capability: str
    synthesized: bool = False
    error: str = ""
    exact: int = 0
    wrong: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return len(ALL_HIDDEN[self.capability][1])


class Corpus:
    """Synthesizes each spec at most once and runs its hidden cases in a sandboxed worker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.results: dict[str, SpecResult] = {}
        self.sandbox = BubblewrapSandbox.detect()

    def result(self, capability: str) -> SpecResult:
        if capability not in self.results:
            self.results[capability] = self._run(capability)
        return self.results[capability]

    def _run(self, capability: str) -> SpecResult:
        spec = CORPUS[capability][1]
        result = SpecResult(capability)
        started = time.perf_counter()
        out = self.root / capability
        try:
            synthesized = synthesize_plugin(spec, out, SynthesisOptions())
        except SynthesizerError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            return result
        result.synthesized = True
        plugin = wheel_plugin(unpack_wheel(synthesized.wheel, out / "hidden-site"), capability)
        worker = PluginWorker(plugin, self.sandbox, LIMITS)
        context = {"run_id": "run-corpus", "stage": spec.stage_name, "capability": capability}
        reference, inputs = ALL_HIDDEN[capability]
        try:
            for number, case in enumerate(inputs, start=1):
                expected = reference(case)
                try:
                    actual: Any = worker.run(capability, case, context)
                except (PluginRunError, PluginWorkerError) as exc:
                    result.wrong.append(f"hidden case {number}: the plugin failed: {exc}")
                    continue
                if same(actual, expected):
                    result.exact += 1
                else:
                    result.wrong.append(
                        f"hidden case {number}: input {case}: expected {expected}, got {actual}"
                    )
        finally:
            worker.close()
        result.seconds = time.perf_counter() - started
        return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


def test_the_corpus_is_big_enough() -> None:
    assert len(EARLIER) >= 20
    assert len(HARDER) >= 15
    assert set(EARLIER) == set(HIDDEN)
    assert set(HARDER) == set(HARDER_HIDDEN)
    assert not set(EARLIER) & set(HARDER)
    for capability, (natural_language, spec) in CORPUS.items():
        assert natural_language, capability
        assert 1 <= len(spec.examples) <= 4, capability
        assert all(e.output is not None for e in spec.examples), capability
        assert spec.constraints, capability
        assert 5 <= len(ALL_HIDDEN[capability][1]) <= 10, capability


@pytest.mark.parametrize("capability", sorted(CORPUS))
def test_reference_agrees_with_the_spec(capability: str) -> None:
    """The hidden cases are honest: valid inputs, and a reference that gives the visible
    examples' outputs and follows the spec's output schema and constraints."""
    spec: PluginSpec = CORPUS[capability][1]
    reference, inputs = ALL_HIDDEN[capability]
    for example in spec.examples:
        assert example.output is not None
        assert same(reference(example.input), example.output), example.note or example.input
    input_validator = validator(spec.input_schema)
    with ContractCheck(spec) as check:
        for case in inputs:
            error = jsonschema.exceptions.best_match(input_validator.iter_errors(case))
            assert error is None, f"hidden input {case} breaks the input schema: {error}"
            expected: Json = reference(case)
            assert check.problems(case, expected) == [], case
    assert len({repr(c) for c in inputs}) == len(inputs), "a hidden input is listed twice"
    assert all(case not in [e.input for e in spec.examples] for case in inputs)


@pytest.mark.parametrize("capability", sorted(CORPUS))
def test_spec_synthesizes_and_gets_hidden_cases_exact(capability: str, corpus: Corpus) -> None:
    result = corpus.result(capability)
    assert result.synthesized, result.error
    assert not result.wrong, "\n".join(result.wrong)
    assert result.exact == result.cases


def _figures(name: str, corpus: Corpus, capabilities: list[str]) -> tuple[str, bool]:
    results = [corpus.result(capability) for capability in capabilities]
    synthesized = sum(r.synthesized for r in results)
    exact = sum(r.exact for r in results)
    cases = sum(r.cases for r in results)
    figures = (
        f"{name}: {synthesized}/{len(results)} specs synthesized, "
        f"{exact}/{cases} hidden cases exact"
    )
    return figures, synthesized == len(results) and exact == cases


def test_corpus_figures(corpus: Corpus) -> None:
    earlier, earlier_ok = _figures("corpus", corpus, sorted(EARLIER))
    harder, harder_ok = _figures("harder corpus", corpus, sorted(HARDER))
    figures = f"{earlier}; {harder}"
    FIGURES[:] = [figures]
    print(f"\n{figures}")
    failed = {c: r.error for c, r in corpus.results.items() if not r.synthesized}
    assert earlier_ok, failed
    assert harder_ok, failed
    wrong = [w for c, r in corpus.results.items() if c in HARDER for w in r.wrong]
    assert not wrong, wrong
