"""The isolated plugin runtime's overhead per stage call, against the same plugin in-process.

One generated plugin (the example plan's ``risk.score_matrix``, rendered and built by the
synthesizer) is called with the spec's golden input:

- in-process: imported and called through pluggy in this process (the path of ``core`` and
  ``verified`` plugins);
- warm: one call to a running sandboxed worker (JSON over pipes), the path of every call after
  the first in a run;
- cold: starting a sandboxed worker (bubblewrap, cgroup, interpreter, plugin import) plus its
  first call, the path of a plugin's first call in a run.

Targets: warm overhead median at most 10 ms, cold at most 150 ms.

The run-time contract check of each sandboxed answer (``plan_pipeline/answer_checks.py``:
golden examples, then the constraints in the sandboxed evaluator) is measured beside them, on
an input that is no golden example (so every constraint is evaluated): per call once its
evaluator runs, and its first check with the evaluator's start (which a run starts beside the
plugin's first call, so it adds only what outlasts that call).
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plan_pipeline.answer_checks import AnswerChecks  # noqa: E402
from plan_pipeline.plugin_worker import PluginWorker, WorkerPlugin  # noqa: E402
from plan_pipeline.quarantine import LocalQuarantine  # noqa: E402
from plan_pipeline.registry import CapabilityRegistry  # noqa: E402
from plan_pipeline.sandbox import BubblewrapSandbox  # noqa: E402
from plan_pipeline.schema_judge import SchemaJudge  # noqa: E402
from plan_pipeline.trust import LocalTierPolicy, Tier  # noqa: E402
from synthesizer.build import build_project  # noqa: E402
from synthesizer.contract_tests import unpack_wheel  # noqa: E402
from synthesizer.render import render_project  # noqa: E402
from synthesizer.rules_codegen import RulesCodeGenerator  # noqa: E402
from tests.synthesizer.conftest import example_specs  # noqa: E402

CAPABILITY = "risk.score_matrix"
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "500"))
COLD_STARTS = int(os.environ.get("BENCH_COLD_STARTS", "25"))


class _AllInProcess(LocalTierPolicy):
    in_process_tiers = frozenset({Tier.CORE, Tier.VERIFIED, Tier.GENERATED})


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    spec = example_specs()[CAPABILITY]
    inputs = spec.examples[0].input
    context = {"run_id": "bench", "stage": "risks", "capability": CAPABILITY}
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        root = Path(tmp)
        project = render_project(spec, RulesCodeGenerator().generate(spec), root / "src")
        site = unpack_wheel(build_project(project, root / "dist").wheel, root / "site")
        sys.path.insert(0, str(site))
        dist = metadata.PathDistribution(next(site.glob("*.dist-info")))
        (entry,) = [ep for ep in dist.entry_points if ep.name == CAPABILITY]

        loaded = CapabilityRegistry(_AllInProcess()).load(CAPABILITY)
        assert loaded.worker is None
        in_process = []
        for _ in range(WARM_CALLS):
            started = time.perf_counter()
            expected = loaded.run(inputs, context)
            in_process.append(time.perf_counter() - started)

        plugin = WorkerPlugin.from_distribution(dist, entry.value)
        sandbox = BubblewrapSandbox.detect()
        warm = []
        with PluginWorker(plugin, sandbox) as worker:
            worker.run(CAPABILITY, inputs, context)
            for _ in range(WARM_CALLS):
                started = time.perf_counter()
                output = worker.run(CAPABILITY, inputs, context)
                warm.append(time.perf_counter() - started)
        assert output == expected, "the worker's output differs from the in-process one"

        contract = spec.model_copy()  # the stage contract's fields, as the pipeline has them
        other = {"risks": [dict(r, likelihood=3) for r in inputs["risks"]]}
        with PluginWorker(plugin, sandbox) as worker:
            answer = worker.run(CAPABILITY, other, context)
        first_checks, checks = [], []
        for _ in range(COLD_STARTS):
            started = time.perf_counter()
            judge = SchemaJudge(sandbox)
            answers = AnswerChecks(lambda: sandbox, judge, LocalQuarantine(root / "q.json"))
            assert answers.problems(contract, other, answer) == []  # type: ignore[arg-type]
            first_checks.append(time.perf_counter() - started)
            answers.close()
            judge.close()
        judge = SchemaJudge(sandbox)
        answers = AnswerChecks(lambda: sandbox, judge, LocalQuarantine(root / "q.json"))
        answers.problems(contract, other, answer)  # type: ignore[arg-type]
        for _ in range(WARM_CALLS):
            started = time.perf_counter()
            answers.problems(contract, other, answer)  # type: ignore[arg-type]
            checks.append(time.perf_counter() - started)
        answers.close()
        judge.close()

        cold = []
        for _ in range(COLD_STARTS):
            started = time.perf_counter()
            with PluginWorker(plugin, sandbox) as worker:
                worker.run(CAPABILITY, inputs, context)
                cold.append(time.perf_counter() - started)

    base = _ms(in_process)
    print(f"plugin runtime, one call of '{CAPABILITY}' (medians, ms)")
    print(f"  in-process call ({WARM_CALLS} calls)      {base:8.3f}")
    print(
        f"  sandboxed worker, warm ({WARM_CALLS} calls) {_ms(warm):8.3f}   "
        f"overhead {_ms(warm) - base:7.3f} ms (target <= 10), {_ms(warm) / base:6.1f}x"
    )
    print(
        f"  sandboxed worker, cold ({COLD_STARTS} starts) {_ms(cold):8.1f}   "
        f"overhead {_ms(cold) - base:7.1f} ms (target <= 150), {_ms(cold) / base:6.0f}x"
    )
    print(
        f"  run-time contract check, per call ({WARM_CALLS}) {_ms(checks):8.3f}   "
        f"{_ms(checks) / _ms(warm):5.2f}x a warm sandboxed call"
    )
    print(
        f"  run-time contract check, first ({COLD_STARTS})  {_ms(first_checks):8.1f}   "
        f"{_ms(first_checks) / _ms(cold):5.2f}x a cold start (a run starts it beside the call)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
