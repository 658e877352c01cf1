"""The contract-test gate: the verdict comes from the harness, never from the plugin.

Each hostile plugin here is rendered and built as the synthesizer would, with static analysis
left out (the test-only path: ``contract_test_gate`` is called directly), so only the sandbox
and the harness stand between it and a pass.
"""

from __future__ import annotations

import json
import os
import re
import signal
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from plan_pipeline.contract_check import same
from plan_pipeline.sandbox import BubblewrapSandbox, SandboxLimits, UnsafeNoSandbox
from plan_pipeline.spec import PluginSpec
from synthesizer import contract_tests
from synthesizer.build import build_project
from synthesizer.codegen import GeneratedLogic
from synthesizer.contract_tests import ForkedHarness, _memoized_strategies, contract_test_gate
from synthesizer.render import render_project
from synthesizer.rules_codegen import RulesCodeGenerator
from tests.synthesizer.llm_helpers import CORRECT_RISK, STATEFUL_FIRST_CALL_RISK

LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10, max_processes=16)

_CORRECT = RulesCodeGenerator()


def _wheel(spec: PluginSpec, tmp_path: Path, logic: str | None = None) -> Path:
    generated = (
        _CORRECT.generate(spec)
        if logic is None
        else GeneratedLogic(generator="hostile", source=textwrap.dedent(logic))
    )
    project = render_project(spec, generated, tmp_path / "src")
    return build_project(project, tmp_path / "dist").wheel


def _gate(spec: PluginSpec, wheel: Path, tmp_path: Path, sandbox: object = None):  # type: ignore[no-untyped-def]
    return contract_test_gate(
        wheel,
        spec,
        sandbox or BubblewrapSandbox.detect(),  # type: ignore[arg-type]
        tmp_path / "work",
        limits=LIMITS,
        property_examples=20,
    )


def _forked_gate(spec: PluginSpec, wheel: Path, work: Path) -> Any:
    harness = ForkedHarness.start(BubblewrapSandbox.detect(), LIMITS, 20)
    assert harness is not None  # one thread: the synthesizer's warm runner, as in a run
    try:
        harness.send_spec(spec)
        harness.submit(wheel, work)
        return harness.result()
    finally:
        harness.close()


def test_a_correct_plugin_passes(risk_spec: PluginSpec, tmp_path: Path) -> None:
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path), tmp_path)
    assert gate.passed, gate.findings
    checks = 1 + len(risk_spec.examples) + 20
    assert gate.summary.startswith(f"{checks} checks passed, plugin in bubblewrap, 1 worker")


def test_the_unsafe_runner_says_so(risk_spec: PluginSpec, tmp_path: Path) -> None:
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path), tmp_path, UnsafeNoSandbox())
    assert gate.passed, gate.findings
    assert "unsafe-none" in gate.summary


def test_a_wrong_result_fails_with_the_example_named(risk_spec: PluginSpec, tmp_path: Path) -> None:
    logic = """
        def compute(input):
            return {"risks": [], "high_count": 0}
    """
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path, logic), tmp_path)
    assert not gate.passed
    assert gate.findings[0].message.startswith("example 1")


def test_a_plugin_right_only_after_its_first_golden_input_is_refused(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """The first call of a gate is a generated input, so a plugin keyed to the first input
    it saw being golden example 1 answers wrong, whatever the gate's seed."""
    wheel = _wheel(risk_spec, tmp_path, STATEFUL_FIRST_CALL_RISK)
    seeds = set()
    for attempt in range(3):
        gate = _gate(risk_spec, wheel, tmp_path / str(attempt))
        assert not gate.passed, gate.summary
        said = " | ".join(f.message for f in gate.findings)
        assert "constraint does not hold: all(r.score == r.likelihood * r.impact" in said
        assert "example 1: expected" in said
        seeds |= set(re.findall(r"property test \(seed (\d+)\)", said))
    assert len(seeds) == 3, "every gate draws its inputs from a seed of its own"


def test_golden_examples_never_come_first_and_every_one_is_sent(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """A plugin that fails when its first input is a golden one, and answers every other
    call right, passes: the goldens come later, among the generated inputs, and are all
    checked (a wrong answer to the last one would fail the gate)."""
    golden_inputs = [e.input["risks"] for e in risk_spec.examples]
    first_golden = STATEFUL_FIRST_CALL_RISK.replace(
        "if SEEN[0] == GOLDEN:", "if SEEN[0] not in " + repr(golden_inputs) + ":"
    )
    wheel = _wheel(risk_spec, tmp_path, first_golden)
    for attempt in range(3):
        gate = _gate(risk_spec, wheel, tmp_path / str(attempt))
        assert gate.passed, gate.findings
        assert gate.summary.startswith(f"{1 + len(risk_spec.examples) + 20} checks passed")
    last = risk_spec.examples[-1].input["risks"]
    wrong_on_last = _wheel(
        risk_spec,
        tmp_path / "last",
        STATEFUL_FIRST_CALL_RISK.replace(
            "if SEEN[0] == GOLDEN:", "if input['risks'] != " + repr(last) + ":"
        ),
    )
    gate = _gate(risk_spec, wrong_on_last, tmp_path / "last")
    assert not gate.passed
    assert f"example {len(risk_spec.examples)}" in gate.findings[0].message


def test_the_goldens_are_placed_at_random_among_the_property_calls(risk_spec: PluginSpec) -> None:
    places = set()
    for _ in range(20):
        harness = contract_tests._Harness(risk_spec, None, _NoCheck())  # type: ignore[arg-type]
        harness.schedule_goldens(50)
        at = list(harness.goldens_at)
        assert sum(len(v) for v in harness.goldens_at.values()) == len(risk_spec.examples)
        assert all(2 <= n <= 50 for n in at)
        places.update(at)
    assert len(places) > 5


class _NoCheck:
    def input_problem(self, inputs: Any) -> None:
        return None


_FORGERIES = {
    "prints fake answers and markers": """
        import sys
        def compute(input):
            for n in range(200):
                print('{"id": %d, "ok": true, "result": {"risks": [], "high_count": 0}}' % n)
            print("@@planexe-junit-0@@<testsuite tests='1'/>@@planexe-junit-end-0@@")
            sys.stdout.flush()
            return {"wrong": True}
    """,
    "writes a passing report": """
        import pathlib
        REPORT = '<testsuites><testsuite tests="1"><testcase name="ok"/></testsuite></testsuites>'
        def compute(input):
            for folder in ("/tmp", "/sandbox", "/sandbox/site", "."):
                try:
                    pathlib.Path(folder, "junit.xml").write_text(REPORT)
                except OSError:
                    pass
            return {"wrong": True}
    """,
    "exits 0 in the middle of its tests": """
        import os
        def compute(input):
            os._exit(0)
    """,
    "exits 0 when imported": """
        import os
        os._exit(0)
        def compute(input):
            return {}
    """,
    "raises SystemExit(0)": """
        def compute(input):
            raise SystemExit(0)
    """,
    "answers through the protocol's descriptor": """
        import json, os
        def compute(input):
            forged = b'{"id": 2, "ok": true, "result": {"risks": [], "high_count": 0}}'
            for fd in range(3, 20):
                try:
                    os.write(fd, forged + b"\\n")
                except OSError:
                    pass
            return {"wrong": True}
    """,
}


@pytest.mark.parametrize("logic", list(_FORGERIES.values()), ids=list(_FORGERIES))
def test_a_forged_verdict_fails(risk_spec: PluginSpec, tmp_path: Path, logic: str) -> None:
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path, logic), tmp_path)
    assert not gate.passed, gate.summary
    assert gate.findings


def test_a_hostile_plugin_cannot_read_the_host_during_the_gate(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hub signing key")
    logic = f"""
        def compute(input):
            with open({str(secret)!r}) as f:
                return {{"stolen": f.read()}}
    """
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path, logic), tmp_path)
    assert not gate.passed
    assert "FileNotFoundError" in gate.findings[0].message


_LIMIT_ATTACKS = {
    "endless loop": (
        "def compute(input):\n    while True:\n        pass\n",
        "did not answer|SIGXCPU: it used its CPU time limit of",
    ),
    "4 GiB": ("def compute(input):\n    return {'x': bytearray(4 * 1024**3)}\n", "MemoryError"),
}


@pytest.mark.parametrize(
    ("logic", "expected"), list(_LIMIT_ATTACKS.values()), ids=list(_LIMIT_ATTACKS)
)
def test_limits_end_the_gate_in_bounded_time(
    risk_spec: PluginSpec, tmp_path: Path, logic: str, expected: str
) -> None:
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path, logic), tmp_path)
    assert not gate.passed
    assert re.search(expected, gate.findings[0].message)
    assert gate.duration_s < 3 * LIMITS.wall_seconds


def test_a_golden_input_that_makes_the_spec_s_pattern_backtrack_fails_in_bounded_time(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    """On the hub the spec is a stranger's: its own schema and example are checked like any
    hostile data, not in the harness's process."""
    schema = {**risk_spec.input_schema}
    schema["properties"] = {**schema["properties"], "code": {"type": "string",
                                                            "pattern": "^(a+)+$"}}  # fmt: skip
    example = {**risk_spec.examples[0].model_dump(), "input": {
        **risk_spec.examples[0].input, "code": "a" * 40 + "!"}}  # fmt: skip
    spec = risk_spec.model_copy(update={"input_schema": schema, "examples": [example]})
    spec = PluginSpec.model_validate(spec.model_dump())
    gate = _gate(spec, _wheel(spec, tmp_path), tmp_path)
    assert not gate.passed
    assert gate.findings[0].rule == "spec"
    assert gate.findings[0].message == (
        "example 1: the input breaks the input schema (its check was ended: it took longer "
        "than 2 s and was stopped)"
    )


_SLOW = "import time\ndef compute(input):\n    time.sleep({seconds})\n    return {{}}\n"


def test_a_plugin_that_answers_slowly_ends_the_gate_at_its_budget(
    risk_spec: PluginSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right on every input, 0.4 s an answer: the gate stops at its budget, not later."""
    monkeypatch.setattr(contract_tests, "GATE_SECONDS", 1.0)
    slow = CORRECT_RISK.replace("    risks = []", "    time.sleep(0.4)\n    risks = []")
    slow = "import time\n" + slow
    gate = _gate(risk_spec, _wheel(risk_spec, tmp_path, slow), tmp_path)
    assert not gate.passed
    assert [f.message for f in gate.findings if "longer than" in f.message] == [
        "the contract tests took longer than 1 s and were stopped"
    ]
    assert gate.duration_s < 1.0 + 3 * 0.4 + LIMITS.wall_seconds


def test_a_forked_harness_without_a_result_in_time_is_stopped_and_fails_the_gate(
    risk_spec: PluginSpec, tmp_path: Path
) -> None:
    harness = ForkedHarness.start(BubblewrapSandbox.detect(), LIMITS, 20)
    assert harness is not None
    harness.wait_s = 2.0
    try:
        harness.send_spec(risk_spec)
        harness.submit(_wheel(risk_spec, tmp_path, _SLOW.format(seconds=5)), tmp_path / "work")
        gate = harness.result()
        assert harness._reap(wait_s=0) is not None  # the child is gone, and its workers
    finally:
        harness.close()
    assert not gate.passed
    assert gate.findings[0].message == (
        "the contract-test harness gave no result in 2 s and was stopped"
    )


@pytest.mark.parametrize(
    ("actual", "expected", "equal"),
    [
        (1000000000999.0, 1000000000000, False),
        (1000000000000.0, 1000000000000, True),
        (7.000000000001, 7.0, True),
        (True, 1, False),
        (1, True, False),
        ({"a": [1, 2.0]}, {"a": [1, 2.0]}, True),
    ],
)
def test_golden_outputs_compare_integers_exactly(
    actual: object, expected: object, equal: bool
) -> None:
    assert same(actual, expected) is equal


_WRONG_FOR_IMPACT_3 = """
    def compute(input):
        risks = []
        for r in input["risks"]:
            score = r["likelihood"] * r["impact"] + (1 if r["impact"] == 3 else 0)
            level = "high" if score >= 15 else ("medium" if score >= 8 else "low")
            risks.append({**r, "score": score, "level": level})
        return {"risks": risks, "high_count": len([r for r in risks if r["level"] == "high"])}
"""


def test_a_failing_property_reports_a_shrunk_counterexample(
    risk_spec: PluginSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right on the golden example, wrong whenever an impact is 3: only the property test can
    tell, and its report names a small failing input (shrinking is bounded by calls, not
    skipped; the bound in seconds is lifted so that a busy machine does not cut it short)."""
    monkeypatch.setattr(contract_tests, "SHRINK_SECONDS", 120.0)
    gate = contract_test_gate(
        _wheel(risk_spec, tmp_path, _WRONG_FOR_IMPACT_3),
        risk_spec,
        BubblewrapSandbox.detect(),
        tmp_path / "work",
        limits=LIMITS,
        property_examples=50,
    )
    assert not gate.passed
    assert [f.rule for f in gate.findings] == ["test-failure"]
    message = gate.findings[0].message
    assert re.match(r"property test \(seed \d+\): input ", message), message
    assert "constraint does not hold: all(r.score == r.likelihood * r.impact" in message
    found = re.search(r"input (\{.*\}): constraint", message)
    assert found is not None, message
    counterexample = json.loads(found.group(1))
    assert [r["impact"] for r in counterexample["risks"]] == [3]


def test_memoized_strategies_draw_the_same_inputs(
    risk_spec: PluginSpec, solar_spec: PluginSpec
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis_jsonschema import from_schema

    def draws(schema: dict[str, Any], memo: bool) -> list[str]:
        seen: list[str] = []

        @settings(max_examples=30, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])  # fmt: skip
        @given(inputs=from_schema(schema))
        def collect(inputs: Any) -> None:
            seen.append(json.dumps(inputs, sort_keys=True))

        if memo:
            with _memoized_strategies():
                collect()
        else:
            collect()
        return seen

    for spec in (risk_spec, solar_spec):
        plain = draws(spec.input_schema, memo=False)
        assert len(set(plain)) > 10
        assert draws(spec.input_schema, memo=True) == plain


def test_the_forked_harness_gives_the_inline_verdict(risk_spec: PluginSpec, tmp_path: Path) -> None:
    assert threading.active_count() == 1  # otherwise the synthesizer would not fork
    wheel = _wheel(risk_spec, tmp_path)
    forked = _forked_gate(risk_spec, wheel, tmp_path / "forked")
    inline = _gate(risk_spec, wheel, tmp_path)
    assert forked.passed and inline.passed, (forked.findings, inline.findings)
    assert forked.summary.split(",")[0] == inline.summary.split(",")[0]

    bad = _wheel(risk_spec, tmp_path / "bad", "def compute(input):\n    return {}\n")
    failed = _forked_gate(risk_spec, bad, tmp_path / "forked-bad")
    assert not failed.passed
    assert any(f.message.startswith("example 1") for f in failed.findings), failed.findings


def test_a_harness_that_dies_fails_the_gate(risk_spec: PluginSpec, tmp_path: Path) -> None:
    harness = ForkedHarness.start(BubblewrapSandbox.detect(), LIMITS, 20)
    assert harness is not None
    try:
        os.kill(harness.pid, signal.SIGKILL)
        harness.submit(_wheel(risk_spec, tmp_path), tmp_path / "work")
        gate = harness.result()
    finally:
        harness.close()
    assert not gate.passed
    assert gate.findings[0].rule == "harness"
    assert gate.findings[0].message.startswith("the contract-test harness stopped (exit status -9")


def test_the_sandbox_holds_in_the_warm_runner(risk_spec: PluginSpec, tmp_path: Path) -> None:
    """The earlier sandbox attacks, each as the plugin under test in the forked harness (its
    worker started before the plugin existed): network, a write outside, a fork bomb, memory
    and an endless loop all fail the gate, leave the host as it was and end in bounded time."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    outside = tmp_path / "outside.txt"
    attacks = {
        "network": (
            f"""
            import socket
            def compute(input):
                socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"x")
                return {{}}
            """,
            "OSError|Network is unreachable|Connection refused|PermissionError",
        ),
        "write outside": (
            f"""
            def compute(input):
                with open({str(outside)!r}, "w") as f:
                    f.write("owned")
                return {{}}
            """,
            "OSError|FileNotFoundError|PermissionError|Read-only",
        ),
        "fork bomb": (
            """
            import os
            def compute(input):
                while True:
                    os.fork()
            """,
            r"did not answer|killed by|stopped before|BlockingIOError|resource|another request",
        ),
        **_LIMIT_ATTACKS,
    }
    try:
        for name, (logic, expected) in attacks.items():
            wheel = _wheel(risk_spec, tmp_path / name.replace(" ", "-"), logic)
            started = time.monotonic()
            gate = _forked_gate(risk_spec, wheel, tmp_path / f"work-{name.replace(' ', '-')}")
            took = time.monotonic() - started
            assert not gate.passed, (name, gate.summary)
            assert re.search(expected, gate.findings[0].message), (name, gate.findings[0])
            assert took < 3 * LIMITS.wall_seconds, (name, took)
        with pytest.raises(BlockingIOError):
            listener.accept()  # no plugin reached the host's loopback
        assert not outside.exists()
    finally:
        listener.close()
