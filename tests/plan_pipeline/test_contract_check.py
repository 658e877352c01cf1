"""The contract's checks: the output schema and the constraints are judged in a sandboxed
child under its own limits, so no output can hold up the harness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plan_pipeline import contract_check
from plan_pipeline.contract_check import ContractCheck
from plan_pipeline.sandbox import BubblewrapSandbox
from plan_pipeline.spec import PluginSpec


def _spec(*constraints: str, output_schema: dict[str, Any] | None = None) -> PluginSpec:
    return PluginSpec(
        capability="test.thing",
        stage_name="thing",
        input_schema={"type": "object"},
        output_schema=output_schema or {"type": "object"},
        constraints=list(constraints),
    )


@pytest.fixture
def sandbox() -> BubblewrapSandbox:
    return BubblewrapSandbox.detect()


def test_constraints_see_input_inside_comprehensions_and_use_methods(
    sandbox: BubblewrapSandbox,
) -> None:
    with ContractCheck(
        _spec(
            "all(n.lower() in [r.name for r in input.rows] for n in output.names)",
            "', '.join(output.names).startswith('A')",
            "sorted(output.names, key=lambda n: len(n))[:1] == output.names[:1]",
            "len(range(len(output.names))) == len({n for n in output.names})",
        ),
        sandbox,
    ) as check:
        assert check.problems({"rows": [{"name": "ann"}]}, {"names": ["ANN"]}) == []
        assert check.problems({"rows": [{"name": "bob"}]}, {"names": ["BOB"]}) == [
            "constraint does not hold: ', '.join(output.names).startswith('A')"
        ]


def test_an_output_that_makes_a_constraint_allocate_without_end_fails_the_check(
    sandbox: BubblewrapSandbox,
) -> None:
    with ContractCheck(_spec("len('-' * output.width) >= 0", "output.width > 0"), sandbox) as c:
        assert c.problems({}, {"width": 10**12}) == [
            "constraint \"len('-' * output.width) >= 0\" cannot be evaluated: MemoryError"
        ]
        assert c.problems({}, {"width": 3}) == []  # the evaluator still works


def test_a_constraint_that_runs_too_long_is_stopped_and_the_next_check_runs(
    sandbox: BubblewrapSandbox,
) -> None:
    endless = "sum(1 for a in range(output.n) for b in range(output.n) for c in range(output.n))"
    with ContractCheck(_spec(f"{endless} >= 0"), sandbox) as check:
        assert check.problems({}, {"n": 100_000}) == [
            "the constraints cannot be evaluated for this output: it took longer than 2 s "
            "and was stopped"
        ]
        assert check.problems({}, {"n": 3}) == []  # a new judge started
        assert check.starts == 2


def test_range_in_a_constraint_keeps_its_bound(sandbox: BubblewrapSandbox) -> None:
    with ContractCheck(_spec("len(range(output.n)) == output.n"), sandbox) as check:
        assert check.problems({}, {"n": 5}) == []
        assert check.problems({}, {"n": 10**9}) == [
            "constraint 'len(range(output.n)) == output.n' cannot be evaluated: ValueError"
        ]


def test_a_hole_in_the_subset_is_contained_by_the_evaluator_s_sandbox(
    sandbox: BubblewrapSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pretend the checker let 'open' through: the evaluator still sees nothing of the host
    secret = tmp_path / "secret.txt"
    secret.write_text("host data", encoding="utf-8")
    monkeypatch.setattr(contract_check, "ALLOWED_FUNCTIONS", {"open", "len"})
    monkeypatch.setattr(contract_check, "translate", lambda text, context: text)
    with ContractCheck(_spec(f"len(open({str(secret)!r}).read()) == 9"), sandbox) as check:
        assert check.problems({}, {}) == [
            f'constraint "len(open({str(secret)!r}).read()) == 9" cannot be evaluated: '
            "FileNotFoundError"
        ]


_STOPPED = (
    "the output cannot be checked against the output schema: it took longer than 2 s and was "
    "stopped"
)


def test_rows_that_make_unique_items_quadratic_fail_the_check_in_bounded_time(
    sandbox: BubblewrapSandbox,
) -> None:
    schema = {"type": "object", "properties": {"rows": {"type": "array", "uniqueItems": True}}}
    with ContractCheck(_spec("len(output.rows) >= 0", output_schema=schema), sandbox) as check:
        rows: list[Any] = [{"n": number} for number in range(16_000)]  # minutes in-process
        assert check.problems({}, {"rows": rows}) == [_STOPPED]
        assert check.problems({}, {"rows": [1, 1]}) == [
            "the output breaks the output schema at $.rows: [1, 1] has non-unique elements"
        ]
        assert check.problems({}, {"rows": [1, 2]}) == []


def test_a_string_that_makes_the_spec_s_pattern_backtrack_fails_the_check_in_bounded_time(
    sandbox: BubblewrapSandbox,
) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    with ContractCheck(_spec(output_schema=schema), sandbox) as check:
        assert check.problems({}, {"code": "a" * 40 + "!"}) == [_STOPPED]
        assert check.problems({}, {"code": "aaa"}) == []


def test_a_big_output_against_branching_schema_is_checked_in_the_child_not_here(
    sandbox: BubblewrapSandbox,
) -> None:
    """Under anyOf, jsonschema keeps every branch's errors: a 2 MiB answer took 21 s and
    2.9 GB in-process. Here it goes to the child, whose limits end it."""
    schema = {
        "type": "object",
        "properties": {"rows": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                          {"type": "null"}]}},
    }  # fmt: skip
    with ContractCheck(_spec(output_schema=schema), sandbox) as check:
        found = check.problems({}, {"rows": [0] * 1_000_000})
        assert len(found) == 1 and found[0].startswith(
            "the output cannot be checked against the output schema: it "
        ), found
        assert check.problems({}, {"rows": None}) == []


def test_a_number_too_big_to_divide_is_a_failed_check_not_a_crash(
    sandbox: BubblewrapSandbox,
) -> None:
    schema = {"type": "object", "properties": {"x": {"multipleOf": 0.01}}}
    with ContractCheck(_spec(output_schema=schema), sandbox) as check:
        assert check.problems({}, {"x": 10**400}) == [
            "the output breaks the output schema at $: the instance cannot be checked "
            "(OverflowError)"
        ]
    assert contract_check.same(10**400, 1.0) is False


def test_constraints_use_the_date_functions_in_the_evaluator(sandbox: BubblewrapSandbox) -> None:
    with ContractCheck(
        _spec(
            "days_between(input.start, output.finish) == input.days",
            "date_add_days(input.start, input.days) == output.finish",
            "weekday(output.finish) < 5",
            "is_iso_date(output.finish)",
        ),
        sandbox,
    ) as check:
        inputs = {"start": "2025-01-30", "days": 32}
        assert check.problems(inputs, {"finish": "2025-03-03"}) == []  # a Monday
        assert check.problems(inputs, {"finish": "2025-03-01"}) == [
            "constraint does not hold: days_between(input.start, output.finish) == input.days",
            "constraint does not hold: date_add_days(input.start, input.days) == output.finish",
            "constraint does not hold: weekday(output.finish) < 5",
        ]
        bad = check.problems(inputs, {"finish": "2025-02-30"})
        assert bad[0] == (
            "constraint 'days_between(input.start, output.finish) == input.days' cannot be "
            "evaluated: ValueError"
        )
        assert bad[-1] == "constraint does not hold: is_iso_date(output.finish)"
        huge = check.problems({"start": "2025-01-30", "days": 10**30}, {"finish": "2025-03-03"})
        assert huge == [  # refused before any work: the check answers at once
            "constraint does not hold: days_between(input.start, output.finish) == input.days",
            "constraint 'date_add_days(input.start, input.days) == output.finish' cannot be "
            "evaluated: ValueError",
        ]
