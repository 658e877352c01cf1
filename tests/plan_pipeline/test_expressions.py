"""The contract expression subset: what it translates, what it refuses and how it says so."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from plan_pipeline.errors import ContractLanguageError
from plan_pipeline.expressions import MAX_RANGE, date_functions_source, translate
from plan_pipeline.plan import Rule
from plan_pipeline.spec import PluginSpec
from synthesizer.code_policy import check_policy
from synthesizer.errors import UnsupportedSpecError
from synthesizer.rules_codegen import RulesCodeGenerator
from synthesizer.static_analysis import run_bandit

CONTEXT = {"input", "output", "item"}


@pytest.mark.parametrize(
    ("expr", "python"),
    [
        ("item.likelihood * item.impact", "item['likelihood'] * item['impact']"),
        ("round(sum(a.kwh for a in output.arrays), 1)",
         "round(sum((a['kwh'] for a in output['arrays'])), 1)"),
        ("'high' if item.score >= 15 else 'low'", "'high' if item['score'] >= 15 else 'low'"),
        ("input.rows[0].name", "input['rows'][0]['name']"),
        ("input.x ** 2", "input['x'] ** 2"),
        ("sum(x ** 2 for x in input.x) ** 0.5", "sum((x ** 2 for x in input['x'])) ** 0.5"),
        ("input.text.split()", "input['text'].split()"),
        ("item.title", "item['title']"),
        ("item.title()", "item.title()"),
        ("', '.join(r.name for r in input.rows)", "', '.join((r['name'] for r in input['rows']))"),
        ("input.rates.get(item.kind, 0)", "input['rates'].get(item['kind'], 0)"),
        ("f'{item.cost:,.2f} {item.unit.upper()}'",
         "f\"{item['cost']:,.2f} {item['unit'].upper()}\""),
        ("input.rows[1:]", "input['rows'][1:]"),
        ("input.text[::-1]", "input['text'][::-1]"),
        ("[i for i in range(len(input.rows))]", "[i for i in bounded_range(len(input['rows']))]"),
        ("sorted(input.rows, key=lambda r: r.cost, reverse=True)",
         "sorted(input['rows'], key=lambda r: r['cost'], reverse=True)"),
        ("max(input.rows, key=lambda r: r.cost, default=None)",
         "max(input['rows'], key=lambda r: r['cost'], default=None)"),
        ("{r.id: r.cost for r in input.rows}", "{r['id']: r['cost'] for r in input['rows']}"),
        ("{r.kind for r in input.rows}", "{r['kind'] for r in input['rows']}"),
        ("[f'{n}. {r.name}' for n, r in enumerate(input.rows, start=1)]",
         "[f\"{n}. {r['name']}\" for n, r in enumerate(input['rows'], start=1)]"),
        ("[a + b for a, b in zip(input.a, input.b)]",
         "[a + b for a, b in zip(input['a'], input['b'])]"),
        ("list(reversed(input.rows))", "list(reversed(input['rows']))"),
        ("'| {} | {:,.2f} |'.format(item.name, item.cost)",
         "'| {} | {:,.2f} |'.format(item['name'], item['cost'])"),
        ("{**item, 'seen': True}", "{**item, 'seen': True}"),
        ("set(input.a) | set(input.b)", "set(input['a']) | set(input['b'])"),
        ("input.code.removeprefix('WBS-').zfill(3)", "input['code'].removeprefix('WBS-').zfill(3)"),
    ],
)  # fmt: skip
def test_translation(expr: str, python: str) -> None:
    # the same program; 3.12 and later unparse f-strings with the quotes of their choice
    translated = translate(expr, CONTEXT)
    assert ast.dump(ast.parse(translated, mode="eval")) == ast.dump(ast.parse(python, mode="eval"))


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("input.text.join.__self__", "no leading underscore"),
        ("input.text.__getattribute__('x')", "call of 'input.text.__getattribute__'"),
        ("input.text.split(*input.parts)", "*arguments"),
        ("input.rows.get.__call__(1)", "call of 'input.rows.get.__call__'"),
        ("input.rows.get(1).__class__", "no leading underscore"),
        ("f'{input.__class__}'", "no leading underscore"),
        ("f'{input!r}'", "conversions"),
        ("f'{input:{input.width}}'", "format spec must be constant"),
        ("f'{input:>1000000000}'", "format spec '>1000000000'"),
        ("f'{input:.999}'", "format spec '.999'"),
        ("f'{input:%Y}'", "format spec '%Y'"),
        ("f'{open(1)}'", "call of 'open'"),
        ("(9 ** 10) ** 10", "exponent of at most 1"),
        ("((2 ** 3 + 1) ** 10) ** 2", "exponent of at most 1"),
        ("-" * 500 + "1", "nested too deeply"),
        ("__import__('os')", "not allowed"),
        ("input.__class__", "no leading underscore"),
        ("open('x')", "call of 'open'"),
        ("(x := 1)", "NamedExpr is not allowed"),
        ("input.x ** input.y", "constant exponent"),
        ("10 ** 100", "constant exponent"),
        ("secret", "unknown name 'secret'"),
        ("item.x", "unknown name 'item'"),
        ("[len for len in input.x]", "comprehension variable 'len'"),
        ("1 << 10000000", "LShift is not allowed"),
        ("('' + '%s') % input.x", "'%' formatting is not allowed"),
        ("('%r' if input.x else '') % input.x", "'%' formatting is not allowed"),
        ("'%9999999s'.lower() % input.x", "'%' formatting is not allowed"),
        ("str(input.x) % input.y", "'%' formatting is not allowed"),
        ("[bounded_range for bounded_range in input.x]", "variable 'bounded_range'"),
        ("sorted(input.x, key=lambda bounded_range: 1)", "parameter 'bounded_range'"),
        ("(" * 5_000 + "1" + ")" * 5_000, "more than 2,000"),
        ("(" * 990 + "1" + ")" * 990, "too many nested parentheses"),
        ("not " * 495 + "1", "nested too deeply"),
        ("-" * 1_990 + "1", "nested too deeply"),
        ("1" + " + 1" * 400, "nested too deeply"),
    ],
)
def test_rejected_expressions(expr: str, problem: str) -> None:
    with pytest.raises(ContractLanguageError, match="expression") as err:
        translate(expr, {"input", "output"})
    assert problem in str(err.value)


# One or more escape attempts through each construct the subset gained: each must be refused
# when the spec is read, before anything is generated or evaluated.
ESCAPES = {
    "slice": [
        ("input.x[::-1].__class__", "no leading underscore"),
        ("input.x[input.__class__:]", "no leading underscore"),
        ("input.x[1:2:__import__('os')]", "not allowed"),
        ("input.x[:].__getitem__(0)", "call of 'input.x[:].__getitem__'"),
    ],
    "range": [
        ("range.__call__(3)", "call of 'range.__call__' is not allowed"),
        ("range(*input.x)", "*arguments"),
        ("[range for range in input.x]", "comprehension variable 'range'"),
    ],
    "enumerate, zip, reversed": [
        ("enumerate(input.x).__next__()", "call of 'enumerate(input.x).__next__'"),
        ("zip(*input.x)", "*arguments"),
        ("reversed(input.x).__length_hint__()", "__length_hint__"),
        ("enumerate(input.x, start=__import__('os'))", "not allowed"),
        ("zip(input.x, input.y, strict=True)", "keyword argument 'strict' of 'zip'"),
        ("zip(input.x).gi_frame()", "method 'gi_frame' is not allowed"),
    ],
    "dict and set comprehensions": [
        ("{k: v for k, v in input.__dict__.items()}", "no leading underscore"),
        ("{__import__('os') for x in input.x}", "not allowed"),
        ("{x for _x in input.x}", "comprehension variable '_x'"),
        ("{x: 1 for x in input.x for sorted in x}", "comprehension variable 'sorted'"),
        ("{x.__class__: x for x in input.x}", "no leading underscore"),
        ("{y for x in input.x if (y := x)}", "NamedExpr is not allowed"),
    ],
    "set displays and bitwise operators": [
        ("{input.__class__}", "no leading underscore"),
        ("~input.x", "Invert is not allowed"),
        ("input.x >> 1", "RShift is not allowed"),
    ],
    "key= lambdas": [
        ("sorted(input.x, key=lambda r: r.__class__)", "no leading underscore"),
        ("sorted(input.x, key=lambda r, _s=__import__('os'): r)", "plain parameters only"),
        ("sorted(input.x, key=lambda *a: a)", "plain parameters only"),
        ("sorted(input.x, key=lambda r, *, k: r)", "plain parameters only"),
        ("max(input.x, key=lambda r: (lambda: r)())", "call of 'lambda: r' is not allowed"),
        ("sorted(input.x, key=lambda len: len)", "lambda parameter 'len'"),
        ("sorted(input.x, key=lambda _r: 1)", "lambda parameter '_r'"),
        ("min(input.x, default=lambda: 1)", "Lambda is not allowed"),
        ("sorted(input.x, cmp=lambda a, b: 0)", "keyword argument 'cmp' of 'sorted'"),
        ("sorted(input.x, **input.opts)", "**arguments"),
        ("sorted(input.x, key=lambda r: r)(1)", "call of 'sorted(input.x, key=lambda r: r)'"),
        ("sorted(input.x, key=lambda r: secret)", "unknown name 'secret'"),
    ],
    "str, list and dict methods": [
        ("input.x.copy().__class__", "no leading underscore"),
        ("input.d.items().mapping", None),  # a key, never the attribute: see below
        ("input.s.format_map(input)", "method 'format_map' is not allowed"),
        ("input.s.encode()", "method 'encode' is not allowed"),
        ("input.x.sort()", "method 'sort' is not allowed (sort into a new list"),
        ("input.x.append(1)", "method 'append' is not allowed (build a new list"),
        ("input.d.update(input)", "method 'update' is not allowed (merge into a new dict"),
        ("input.s.split(sep=',')", "keyword argument 'sep' of 'input.s.split'"),
    ],
    "format": [
        ("input.s.format(input)", "'.format' is allowed only on a constant string"),
        ("str.format('{0.__class__}', input)", "'.format' is allowed only on a constant string"),
        ("'{0.__class__}'.format(input)", "format field '{0.__class__}' is not plain"),
        ("'{0[secret]}'.format(input)", "format field '{0[secret]}' is not plain"),
        ("'{x}'.format(x=input)", "format field '{x}' is not plain"),
        ("'{:{}}'.format(1, 10 ** 9)", "format spec '{}'"),
        ("'{!r}'.format(input)", "conversions other than !s"),
        ("'{:>1000000}'.format(1)", "format spec '>1000000'"),
        ("'%s' % input.x", "'%' formatting is not allowed (use an f-string"),
    ],
}


@pytest.mark.parametrize(
    ("expr", "problem"),
    [case for cases in ESCAPES.values() for case in cases if case[1] is not None],
    ids=[f"{what}: {case[0]}" for what, cases in ESCAPES.items() for case in cases if case[1]],
)
def test_escapes_through_the_new_constructs_are_refused(expr: str, problem: str) -> None:
    with pytest.raises(ContractLanguageError, match="expression") as err:
        translate(expr, {"input", "output"})
    assert problem in str(err.value)


def _run(exprs: dict[str, str], inputs: dict[str, Any]) -> dict[str, Any]:
    """The output of generated code for rules ``{field: expr}``, run in this process (test
    code of our own generator only)."""
    spec = PluginSpec(
        capability="test.thing",
        stage_name="thing",
        input_schema={"type": "object"},
        output_schema={"type": "object", "required": list(exprs)},
        rules=[Rule(set=key, expr=expr) for key, expr in exprs.items()],
    )
    scope: dict[str, Any] = {}
    exec(compile(RulesCodeGenerator().generate(spec).source, "<generated>", "exec"), scope)
    result: dict[str, Any] = scope["compute"](inputs)
    return result


def test_a_mapping_key_named_like_an_attribute_is_a_key_not_the_attribute() -> None:
    # dict_items.mapping would be the dict itself; translated, it indexes the view and fails
    assert "['mapping']" in translate("input.d.items().mapping", CONTEXT)
    with pytest.raises(TypeError, match="not subscriptable"):
        _run({"m": "input.d.items().mapping"}, {"d": {"a": 1}})


def test_data_that_looks_like_a_format_field_stays_data() -> None:
    out = _run({"s": "'<{}>'.format(input.s)"}, {"s": "{0.__class__}"})
    assert out == {"s": "<{0.__class__}>"}


def test_range_refuses_more_numbers_than_its_bound() -> None:
    assert _run({"n": f"len(range({MAX_RANGE}))"}, {}) == {"n": MAX_RANGE}
    with pytest.raises(ValueError, match=f"longer than {MAX_RANGE}"):
        _run({"n": "len(range(input.n))"}, {"n": MAX_RANGE + 1})


def test_the_new_constructs_compute_what_they_say() -> None:
    rows = [{"id": "b", "cost": 2.5}, {"id": "a", "cost": 10.0}, {"id": "c", "cost": 2.5}]
    out = _run(
        {
            "by_cost": "[r.id for r in sorted(input.rows, key=lambda r: (-r.cost, r.id))]",
            "cheapest": "min(input.rows, key=lambda r: r.cost).id",
            "none": "max([], key=lambda r: r, default=None)",
            "costs": "{r.id: r.cost for r in input.rows}",
            "kinds": "sorted({r.cost for r in input.rows})",
            "numbered": "[f'{n}. {r.id}' for n, r in enumerate(input.rows, start=1)]",
            "pairs": "[a + b for a, b in zip(input.a, input.b)]",
            "last_two": "list(reversed(input.rows[-2:]))[0].id",
            "table": "'\\n'.join(['| id | cost |', '|---|---:|'] + "
            "['| {} | {:,.2f} |'.format(r.id, r.cost) for r in input.rows])",
            "slug": "'-'.join(input.title.lower().split())[:12]",
        },
        {"rows": rows, "a": [1, 2], "b": [10, 20, 30], "title": "Solar Micro Grid Plan"},
    )
    assert out == {
        "by_cost": ["a", "b", "c"],
        "cheapest": "b",
        "none": None,
        "costs": {"b": 2.5, "a": 10.0, "c": 2.5},
        "kinds": [2.5, 10.0],
        "numbered": ["1. b", "2. a", "3. c"],
        "pairs": [11, 22],
        "last_two": "c",
        "table": "| id | cost |\n|---|---:|\n| b | 2.50 |\n| a | 10.00 |\n| c | 2.50 |",
        "slug": "solar-micro-",
    }


def test_generated_code_with_the_new_constructs_passes_the_code_policy(tmp_path: Path) -> None:
    spec = PluginSpec(
        capability="test.thing",
        stage_name="thing",
        input_schema={"type": "object"},
        output_schema={"type": "object", "required": ["a"]},
        rules=[
            Rule(set="a", expr="sorted(input.rows, key=lambda r: r.cost)[::-1]"),
            Rule(set="b", expr="{k: v for k, v in zip(input.k, range(len(input.k)))}"),
            Rule(set="c", expr="'{} {:.1f}'.format(input.name, 1.25)"),
        ],
    )
    logic = tmp_path / "logic.py"
    logic.write_text(RulesCodeGenerator().generate(spec).source, encoding="utf-8")
    assert check_policy([logic], tmp_path, [], ["logic"]) == []


@pytest.mark.parametrize(
    ("expr", "hint"),
    [
        ("map(str, input.x)", "use a comprehension: [f(x) for x in xs]"),
        ("filter(bool, input.x)", "use a comprehension: [x for x in xs if ...]"),
        ("input.x.reverse()", "reversed(xs) or xs[::-1]"),
        ("input.x.pop()", "take the value with xs[-1]"),
        ("lambda: 1", "a lambda is allowed only as the key= of sorted, min or max"),
        ("[*input.a, *input.b]", "join lists with a + b"),
        ("math.sqrt(input.x)", "use x ** 0.5"),
        ("inptu.x", "unknown name 'inptu' (did you mean 'input'?)"),
        ("sroted(input.x)", "did you mean 'sorted'?"),
        ("input.name.uper()", "method 'uper' is not allowed (did you mean 'upper'?)"),
        ("input.x = 1", "compare with '=='"),
        ("dict(a=1)", "keyword argument 'a' of 'dict' is not allowed"),
    ],
)
def test_a_refused_construct_is_named_with_the_supported_form(expr: str, hint: str) -> None:
    with pytest.raises(ContractLanguageError) as err:
        translate(expr, {"input", "output"})
    assert hint in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        ("input.name.frobnicate()", "method 'frobnicate' is not allowed"),
        ("open(input.path)", "call of 'open' is not allowed"),
        ("input.name.uper()", "did you mean 'upper'?"),
    ],
)
def test_refusals_are_short_and_name_the_rules_language(expr: str, named: str) -> None:
    with pytest.raises(ContractLanguageError) as refused:
        translate(expr, ["input"])
    said = str(refused.value)
    assert named in said and "RULES.md" in said
    assert len(said) < 250, said  # not a list of every allowed method


def test_the_rules_language_reference_lists_every_allowed_function_and_method() -> None:
    from plan_pipeline.expressions import ALLOWED_FUNCTIONS, ALLOWED_METHODS

    reference = (Path(__file__).resolve().parents[2] / "docs" / "RULES.md").read_text()
    words = set(reference.replace("`", " ").split())
    assert words >= ALLOWED_FUNCTIONS | ALLOWED_METHODS


# -- dates and named values -----------------------------------------------------------------


def _date_functions() -> dict[str, Any]:
    """The date functions as generated plugins and the constraint evaluator define them."""
    scope: dict[str, Any] = {}
    exec(compile(date_functions_source(), "<date functions>", "exec"), scope)  # our source
    return scope


@pytest.mark.parametrize(
    ("expr", "python"),
    [
        ("date_add_days(input.start, item.days)", "date_add_days(input['start'], item['days'])"),
        ("days_between(item.due, item.done)", "days_between(item['due'], item['done'])"),
        ("['Mon', 'Tue'][weekday(input.start)]", "['Mon', 'Tue'][weekday(input['start'])]"),
        ("[m for m in input.ms if not is_iso_date(m.date)]",
         "[m for m in input['ms'] if not is_iso_date(m['date'])]"),
        ("item['from'] + item['class']", "item['from'] + item['class']"),
    ],
)  # fmt: skip
def test_date_functions_translate_as_calls(expr: str, python: str) -> None:
    assert translate(expr, CONTEXT) == python


DATE_ESCAPES = [
    ("weekday(input.d).__class__", "no leading underscore"),
    ("date_add_days.__globals__", "no leading underscore"),
    ("days_between.__code__.co_consts", "no leading underscore"),
    ("date_add_days(*input.args)", "*arguments"),
    ("date_add_days(input.d, n=3)", "keyword argument 'n' of 'date_add_days'"),
    ("weekday(input.d, **input.opts)", "**arguments"),
    ("[weekday for weekday in input.x]", "comprehension variable 'weekday'"),
    ("sorted(input.x, key=lambda days_between: 1)", "lambda parameter 'days_between'"),
    ("_iso_date(input.d, 'x')", "call of '_iso_date' is not allowed"),
    ("_datetime.date.today()", "not allowed"),
    ("date(2025, 1, 1)", "dates are ISO strings"),
    ("datetime.date.today()", "method 'today' is not allowed"),
    ("datetime", "dates are ISO strings"),
    ("timedelta(days=3)", "add days with date_add_days"),
    ("input.d.isoweekday()", "use weekday(d) + 1"),
    ("date_add_days(input.d, 1).fromisoformat(1)", "method 'fromisoformat' is not allowed"),
    ("weekday(input.d)(1)", "call of 'weekday(input.d)' is not allowed"),
    ("item.from", "the key 'from' is a Python keyword: read it as x['from']"),
    ("output.class == 1", "the key 'class' is a Python keyword"),
]


@pytest.mark.parametrize(("expr", "problem"), DATE_ESCAPES)
def test_escapes_through_the_date_functions_are_refused(expr: str, problem: str) -> None:
    with pytest.raises(ContractLanguageError, match="expression") as err:
        translate(expr, CONTEXT)
    assert problem in str(err.value)


def test_the_date_functions_compute_on_iso_strings() -> None:
    f = _date_functions()
    assert f["date_add_days"]("2024-02-28", 1) == "2024-02-29"
    assert f["date_add_days"]("2025-02-28", 1) == "2025-03-01"
    assert f["date_add_days"]("2025-01-10", -10) == "2024-12-31"
    assert f["date_add_days"]("2025-01-10", 3.0) == "2025-01-13"  # a whole float counts
    assert f["date_add_days"]("0001-01-02", -1) == "0001-01-01"
    assert f["date_add_days"]("0001-01-01", 3_652_058) == "9999-12-31"
    assert f["days_between"]("2024-01-01", "2025-01-01") == 366
    assert f["days_between"]("2025-03-10", "2025-03-01") == -9
    assert f["weekday"]("2025-06-02") == 0  # a Monday
    assert f["weekday"]("2025-06-08") == 6  # a Sunday
    assert f["is_iso_date"]("2024-02-29") is True
    wide = "\uff12\uff10\uff12\uff14-01-01"  # full-width digits: int() reads them, we do not
    for text in ["2023-02-29", "2024-2-3", "2024-02-30", "0000-01-01", " 2024-01-01", wide,
                 "2024-01-01T00:00", "2024/01/01", "20240101", None, 20240101,
                 ["2024-01-01"], {"date": "2024-01-01"}, True]:  # fmt: skip
        assert f["is_iso_date"](text) is False, text
    assert type(f["date_add_days"]("2024-01-01", 1)) is str  # no date object reaches output


@pytest.mark.parametrize(
    ("call", "args", "problem"),
    [
        ("date_add_days", ("2024-02-30", 1), "'2024-02-30' is not a real calendar date"),
        ("date_add_days", ("31/12/2024", 1), "'31/12/2024' is not a date written YYYY-MM-DD"),
        ("date_add_days", ("2024-01-01", 10**100), "a day count beyond 3652058"),
        ("date_add_days", ("2024-01-01", -(10**18)), "a day count beyond 3652058"),
        ("date_add_days", ("9999-12-31", 1), "outside the years 1 to 9999"),
        ("date_add_days", ("0001-01-01", -1), "outside the years 1 to 9999"),
        ("date_add_days", ("2024-01-01", 1.5), "must be a whole number, not 1.5"),
        ("date_add_days", ("2024-01-01", float("inf")), "must be a whole number, not inf"),
        ("date_add_days", ("2024-01-01", float("nan")), "must be a whole number, not nan"),
        ("date_add_days", ("2024-01-01", True), "not a boolean"),
        ("date_add_days", ("2024-01-01", "3"), "not a value of another kind"),
        ("date_add_days", (20240101, 1), "a value that is not text"),
        ("days_between", ("2024-01-01", None), "a value that is not text"),
        ("days_between", (["2024-01-01"], "2024-01-01"), "a value that is not text"),
        ("weekday", ("x" * 10_000_000,), "'xxxxxxxxxxxx' is not a date"),
    ],
)
def test_the_date_functions_refuse_what_is_not_a_date_with_a_value_error(
    call: str, args: tuple[Any, ...], problem: str
) -> None:
    with pytest.raises(ValueError, match=call) as refused:
        _date_functions()[call](*args)
    assert problem in str(refused.value)
    assert len(str(refused.value)) < 120


def _let_spec(rules: list[Rule], required: list[str]) -> PluginSpec:
    return PluginSpec(
        capability="test.thing",
        stage_name="thing",
        input_schema={"type": "object"},
        output_schema={"type": "object", "required": required},
        rules=rules,
    )


def _compute(spec: PluginSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(compile(RulesCodeGenerator().generate(spec).source, "<generated>", "exec"), scope)
    result: dict[str, Any] = scope["compute"](inputs)
    return result


def test_named_values_are_read_by_later_rules_and_never_reach_the_output() -> None:
    spec = _let_spec(
        [
            Rule(let="total", expr="sum(l.amount for l in input.lines)"),
            Rule(let="finish", expr="date_add_days(input.start, len(input.lines) * 7)"),
            Rule(set="lines", expr="input.lines"),
            Rule(set="lines[*].share", expr="round(100 * item.amount / total, 1)"),
            Rule(set="finish", expr="finish"),
            Rule(
                set="finish_day",
                expr="['Mon','Tue','Wed','Thu','Fri','Sat','Sun'][weekday(finish)]",
            ),
        ],
        ["lines", "finish"],
    )
    inputs = {"start": "2025-01-01", "lines": [{"amount": 30}, {"amount": 10}]}
    assert _compute(spec, inputs) == {
        "lines": [{"amount": 30, "share": 75.0}, {"amount": 10, "share": 25.0}],
        "finish": "2025-01-15",
        "finish_day": "Wed",
    }
    assert inputs == {"start": "2025-01-01", "lines": [{"amount": 30}, {"amount": 10}]}


def test_a_named_value_is_a_snapshot_that_later_rules_do_not_change() -> None:
    spec = _let_spec(
        [
            Rule(set="rows", expr="input.rows"),
            Rule(let="first", expr="output.rows[0]"),
            Rule(set="rows[*].seen", expr="True"),
            Rule(set="first", expr="first"),
        ],
        ["rows", "first"],
    )
    assert _compute(spec, {"rows": [{"a": 1}]}) == {
        "rows": [{"a": 1, "seen": True}],
        "first": {"a": 1},
    }


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"let": "input", "expr": "1"}, "let name 'input' would shadow a name of the language"),
        ({"let": "output", "expr": "1"}, "let name 'output' would shadow"),
        ({"let": "item", "expr": "1"}, "let name 'item' would shadow"),
        ({"let": "len", "expr": "1"}, "let name 'len' would shadow an allowed function"),
        ({"let": "sorted", "expr": "1"}, "would shadow an allowed function"),
        ({"let": "weekday", "expr": "1"}, "would shadow an allowed function"),
        ({"let": "bounded_range", "expr": "1"}, "would shadow a name of the language"),
        ({"let": "from", "expr": "1"}, "let name 'from' is not allowed"),
        ({"let": "_clone", "expr": "1"}, "let name '_clone' is not allowed"),
        ({"let": "__builtins__", "expr": "1"}, "is not allowed"),
        ({"let": "Total", "expr": "1"}, "let name 'Total' is not allowed"),
        ({"let": "a.b", "expr": "1"}, "let name 'a.b' is not allowed"),
        ({"let": "x", "set": "x", "expr": "1"}, "exactly one of 'set'"),
        ({"expr": "1"}, "exactly one of 'set'"),
    ],
)
def test_a_let_rule_with_a_name_the_language_owns_is_refused(
    rule: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValueError, match="validation error") as refused:
        Rule(**rule)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([Rule(let="a", expr="a + 1"), Rule(set="x", expr="a")], "unknown name 'a'"),
        ([Rule(set="x", expr="b"), Rule(let="b", expr="1")], "unknown name 'b'"),
        ([Rule(let="a", expr="b"), Rule(let="b", expr="a"), Rule(set="x", expr="1")],
         "unknown name 'b'"),
        ([Rule(let="a", expr="1"), Rule(let="a", expr="2"), Rule(set="x", expr="a")],
         "let name 'a' is given twice"),
        ([Rule(let="a", expr="item.x"), Rule(set="x", expr="a")], "unknown name 'item'"),
        ([Rule(let="a", expr="__import__('os')"), Rule(set="x", expr="a")], "not allowed"),
        ([Rule(let="a", expr="input.x"), Rule(set="x", expr="a.__class__")],
         "no leading underscore"),
    ],
)  # fmt: skip
def test_named_values_are_read_only_after_they_are_given(rules: list[Rule], problem: str) -> None:
    with pytest.raises(UnsupportedSpecError) as refused:
        RulesCodeGenerator().generate(_let_spec(rules, ["x"]))
    assert problem in str(refused.value)


def test_a_let_rule_alone_computes_no_output_field() -> None:
    with pytest.raises(UnsupportedSpecError, match="compute output field"):
        RulesCodeGenerator().generate(_let_spec([Rule(let="x", expr="1")], ["x"]))


def test_a_set_rule_serializes_as_before_and_a_let_rule_without_set() -> None:
    assert Rule(set="a", expr="1").model_dump() == {"set": "a", "expr": "1"}
    assert Rule(let="a", expr="1").model_dump() == {"let": "a", "expr": "1"}
    assert Rule.model_validate(Rule(let="a", expr="1").model_dump()).let == "a"


def test_generated_code_with_dates_and_named_values_passes_the_static_analysis(
    tmp_path: Path,
) -> None:
    spec = _let_spec(
        [
            Rule(let="due", expr="date_add_days(input.start, input.days)"),
            Rule(set="due", expr="due"),
            Rule(set="late", expr="days_between(due, input.done)"),
            Rule(set="day", expr="weekday(due)"),
            Rule(set="ok", expr="is_iso_date(input.done)"),
        ],
        ["due"],
    )
    source = RulesCodeGenerator().generate(spec).source
    assert source == RulesCodeGenerator().generate(spec).source
    assert source.count("import datetime as _datetime") == 1
    package = tmp_path / "logic"
    package.mkdir()
    (package / "logic.py").write_text(source, encoding="utf-8")
    assert check_policy([package / "logic.py"], tmp_path, [], ["logic"]) == []
    assert run_bandit([package / "logic.py"], tmp_path) == []
    assert _compute(spec, {"start": "2025-01-30", "days": 30, "done": "2025-03-03"}) == {
        "due": "2025-03-01", "late": 2, "day": 5, "ok": True
    }  # fmt: skip
    with pytest.raises(ValueError, match="date_add_days: a day count beyond"):
        _compute(spec, {"start": "2025-01-30", "days": 10**30, "done": "2025-03-03"})


def test_a_plugin_without_dates_carries_no_date_code() -> None:
    source = RulesCodeGenerator().generate(_let_spec([Rule(set="x", expr="1")], ["x"])).source
    assert "datetime" not in source and "date_add_days" not in source


def test_a_rule_cannot_reach_the_date_helpers_of_the_generated_module() -> None:
    for expr in ["_datetime", "_MAX_DAYS", "_whole_days(1, 'x')", "compute(input)"]:
        with pytest.raises(ContractLanguageError):
            translate(expr, CONTEXT)
