"""Attacks on the checks of sandboxed plugins' data: a check that a hostile answer makes
costly ends in the sandboxed judge, and a sandboxed plugin's own schema binds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plan_pipeline.contract import CapabilityNeed, Contract
from plan_pipeline.errors import StageOutputError
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.sandbox import BubblewrapSandbox, SandboxLimits
from plan_pipeline.sandboxed_judge import JudgeStopped
from plan_pipeline.schema_judge import JUDGE_LIMITS, SchemaJudge
from plan_pipeline.stage_runner import run_capability
from tests.plugin_factory import PluginSource, install_plugin

BACKTRACKING = {
    "type": "object",
    "properties": {"text": {"type": "string", "pattern": "^(a+)+$"}},
}
"""A pattern whose match of ``a...a!`` doubles in time with every ``a`` (40 of them: days)."""
HOSTILE_TEXT = "a" * 40 + "!"
UNIQUE_ROWS = {"type": "object", "properties": {"rows": {"type": "array", "uniqueItems": True}}}
"""``uniqueItems`` compares objects pairwise: 16,000 distinct rows take minutes."""
QUICK = SandboxLimits(
    cpu_seconds=30,
    address_space_bytes=JUDGE_LIMITS.address_space_bytes,
    memory_bytes=JUDGE_LIMITS.memory_bytes,
    max_processes=8,
    file_size_bytes=1024**2,
    open_files=64,
    wall_seconds=1.0,
)


@pytest.fixture
def judge() -> Iterator[SchemaJudge]:
    judge = SchemaJudge(BubblewrapSandbox.detect(), QUICK)
    yield judge
    judge.close()


def test_a_backtracking_pattern_ends_in_the_judge_and_the_next_check_works(
    judge: SchemaJudge,
) -> None:
    with pytest.raises(JudgeStopped, match=r"took longer than 1 s and was stopped"):
        judge.problem({"text": HOSTILE_TEXT}, BACKTRACKING)
    assert judge.problem({"text": "aaa"}, BACKTRACKING) is None
    assert judge.problem({"text": 3}, BACKTRACKING) == "at $.text: 3 is not of type 'string'"


def test_quadratic_unique_items_end_in_the_judge(judge: SchemaJudge) -> None:
    rows: list[Any] = [{"n": number} for number in range(16_000)]
    with pytest.raises(JudgeStopped, match=r"took longer than 1 s"):
        judge.problem({"rows": rows}, UNIQUE_ROWS)
    problem = judge.problem({"rows": [{"n": 1}, {"n": 1}]}, UNIQUE_ROWS)
    assert problem is not None and problem.startswith("at $.rows: ")
    assert "non-unique" in problem


def test_a_reference_outside_the_schema_is_not_fetched(judge: SchemaJudge) -> None:
    schema = {"$ref": "file:///etc/passwd"}
    assert judge.problem({}, schema) == (
        "at $ref: cannot resolve file:///etc/passwd (only '#...' resolve)"
    )


def test_nesting_too_deep_to_check_is_a_problem_not_a_crash(judge: SchemaJudge) -> None:
    schema = {"$defs": {"n": {"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}}}}}
    schema["$ref"] = "#/$defs/n"
    deep: dict[str, Any] = {}
    for _ in range(900):  # about the deepest that JSON decoding in the host lets through
        deep = {"a": deep}
    assert judge.problem(deep, schema) == "at $: the instance cannot be checked (RecursionError)"
    assert judge.problem({"a": {}}, schema) is None


@pytest.fixture
def slow_schema_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    install_plugin(
        site,
        PluginSource(
            "slow-schema-plugin",
            f"slow_schema_{abs(hash(tmp_path)) % 10**8}",
            {"probe.slow": f"{{'text': {HOSTILE_TEXT!r}}}"},
            output_schema=BACKTRACKING,
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def registry(slow_schema_site: Path) -> Iterator[CapabilityRegistry]:
    registry = CapabilityRegistry(judge_limits=QUICK)
    yield registry
    registry.close()


def _run(registry: CapabilityRegistry, need: CapabilityNeed) -> dict[str, Any]:
    loaded = registry.load(need.capability)
    assert loaded.worker is not None and loaded.judge is not None
    output, _ = run_capability(need, loaded, {}, {"run_id": "t", "stage": need.name})
    return output


def test_a_sandboxed_plugins_own_schema_does_not_bind_where_the_stage_has_a_contract(
    registry: CapabilityRegistry,
) -> None:
    contract = Contract(
        output_schema={"type": "object", "properties": {"text": {"type": "string"}}}
    )
    need = CapabilityNeed(name="slow", capability="probe.slow", contract=contract)
    assert _run(registry, need) == {"text": HOSTILE_TEXT}
    loaded = registry.load("probe.slow")
    assert loaded.judge is not None and not loaded.judge.started  # cheap: checked here
    strict = Contract(output_schema={"type": "object", "properties": {"text": {"maxLength": 5}}})
    with pytest.raises(StageOutputError, match=r"stage contract's output schema at \$\.text"):
        _run(registry, CapabilityNeed(name="slow", capability="probe.slow", contract=strict))


def test_a_sandboxed_plugins_own_costly_schema_fails_the_stage_in_bounded_time(
    registry: CapabilityRegistry,
) -> None:
    need = CapabilityNeed(name="slow", capability="probe.slow")
    with pytest.raises(StageOutputError) as failed:
        _run(registry, need)
    assert failed.value.problem == (
        "stage 'slow': output of plugin slow-schema-plugin 1.0.0 violates the plugin's output "
        "schema (its check was ended: it took longer than 1 s and was stopped)"
    )


def test_a_contract_schema_with_a_costly_keyword_is_checked_in_the_judge(
    registry: CapabilityRegistry,
) -> None:
    need = CapabilityNeed(
        name="slow", capability="probe.slow", contract=Contract(output_schema=BACKTRACKING)
    )
    with pytest.raises(StageOutputError, match=r"the stage contract's output schema \(its check "
                       r"was ended: it took longer than 1 s and was stopped\)"):  # fmt: skip
        _run(registry, need)


def test_an_upstream_output_checked_for_an_in_process_plugin_ends_in_the_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage's inputs are earlier stages' outputs, which a sandboxed plugin may have
    written: a trusted, in-process plugin's inputs are hostile too."""
    from plan_pipeline.errors import StageInputError

    registry = CapabilityRegistry(judge_limits=QUICK)
    try:
        loaded = registry.load("brief.load")
        assert loaded.worker is None and loaded.judge is not None
        contract = Contract(input_schema=UNIQUE_ROWS)
        need = CapabilityNeed(name="brief", capability="brief.load", contract=contract)
        rows: list[Any] = [{"n": number} for number in range(16_000)]
        task = {"id": "t1", "name": "t", "days": 1, "cost": 1}
        brief = {"project": "p", "start_date": "2026-01-01", "budget_cap": 1,
                 "workstreams": [{"id": "w", "name": "w", "tasks": [task]}]}  # fmt: skip
        inputs = {"brief": brief, "rows": rows}
        with pytest.raises(StageInputError, match=r"its check was ended: it took longer than 1 s"):
            run_capability(need, loaded, inputs, {"run_id": "t", "stage": "brief"})
    finally:
        registry.close()
