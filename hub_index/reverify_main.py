"""The hub's rebuild of a published plugin, in a process of its own (``reverify.py``).

Run as ``python -m hub_index.reverify_main WORK`` with the ``GeneratedPublish`` as JSON on
standard input. It synthesizes the plugin from the published spec and logic under
``WORK/synth`` with every gate, and prints one JSON line: ``{"outcome": "built", "wheel":
NAME, "report_json": ..., "pass_rate": ...}``, or ``{"outcome": "gates-failed" | "failed",
"problem": ...}``. Progress goes to standard error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main() -> int:
    from hub_index.reverify import GeneratedPublish
    from plan_pipeline.errors import PlanPipelineError
    from synthesizer.codegen import GeneratedLogic
    from synthesizer.errors import GateFailedError
    from synthesizer.synthesize import SynthesisOptions, synthesize_plugin

    work = Path(sys.argv[1])
    answer: dict[str, Any]
    try:
        publish = GeneratedPublish.model_validate_json(sys.stdin.read())
        logic = GeneratedLogic(generator=publish.generator, source=publish.logic_source)
        result = synthesize_plugin(
            publish.spec,
            work / "synth",
            SynthesisOptions.from_env(),
            progress=lambda line: print(line, file=sys.stderr),
            logic=logic,
        )
        report = result.report
        answer = {
            "outcome": "built",
            "wheel": result.wheel.name,
            "report_json": report.model_dump_json(),
            "pass_rate": report.pass_rate,
        }
    except GateFailedError as exc:
        answer = {"outcome": "gates-failed", "problem": _gates(exc), "detail": exc.problem}
    except PlanPipelineError as exc:
        answer = {"outcome": "failed", "problem": exc.problem}
    except ValueError as exc:
        answer = {"outcome": "failed", "problem": f"the publish is not valid: {exc}"[:300]}
    print(json.dumps(answer), flush=True)
    return 0


def _gates(exc: Any) -> str:
    """Which gates failed and by which rules, in the hub's own words only: a finding's message
    may hold what the plugin printed (anything it could read on the hub), so it stays in the
    hub's log."""
    report = getattr(exc, "report", None)
    if report is None:
        return "the plugin failed the hub's gates"
    failed = report.failed_gates() or [g for g in report.gates if not g.passed]
    parts = []
    for gate in failed:
        rules = ", ".join(sorted({f.rule for f in gate.findings}))
        count = len(gate.findings)
        parts.append(f"{gate.name} ({count} finding(s): {rules})" if rules else gate.name)
    return f"plugin for '{report.capability}' failed gate(s) {'; '.join(parts)}"


if __name__ == "__main__":
    raise SystemExit(main())
