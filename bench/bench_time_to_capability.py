"""Time-to-capability in dry-run: from the miss to the stage succeeding, with a breakdown per
step, against a baseline of the same steps done with the standard command-line tools one after
another (cookiecutter, python -m build, pytest, bandit, pip-audit, pip install) in the same run.

Ours: each measurement is a fresh process that has run the plan's upstream stages, then times
the missing stage from the miss (inside ``run_stage``: resolve misses, synthesizer imported,
spec drafted, plugin generated, rendered, checked, built, contract-tested by the harness with
the plugin in a sandboxed worker, audited, installed for the run, run in a worker) to its
output written. The audit's result comes from the user's audit cache when the same pins were
audited against the same advisories before (as after the first synthesis here); nothing of a
plugin is kept between syntheses.

A failing plugin: a fresh process synthesizes the risk plugin from logic that is right on the
golden example and wrong whenever an impact is 3, timed from the call to the gate failure
(every gate, the property test's bounded shrinking included).

Baseline: the same plugin (same rendered context, via cookiecutter's replay file) taken
through the standard tools as a maintainer would run them, with their defaults: an isolated
``python -m build``, ``pytest`` in the new project (no sandbox; Hypothesis starts with an empty
``.hypothesis`` folder there, as in any new project), ``bandit``, ``pip-audit`` against the
same loopback OSV endpoint, ``pip install --target``. Ours keeps Hypothesis' Unicode tables
warm between syntheses; for transparency the baseline's pytest is also timed with that warm
cache (not counted in its total), and the ratio against that variant is printed too.

Targets: median at most 0.5 s; a failing plugin's gates end within 5 s (median).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plan_pipeline.plan import load_plan  # noqa: E402
from plan_pipeline.spec import draft_spec  # noqa: E402
from synthesizer.audit import DEFAULT_ADVISORIES, check_dependencies  # noqa: E402
from synthesizer.contract_tests import warm_hypothesis_storage  # noqa: E402
from synthesizer.osv_server import serve_advisories  # noqa: E402
from synthesizer.render import PluginNames, template_context, template_dir  # noqa: E402
from synthesizer.rules_codegen import RulesCodeGenerator  # noqa: E402

PLAN = ROOT / "examples" / "plans" / "solar_microgrid" / "plan.yaml"
STAGES = ("solar_yield", "risks")
OURS_REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
BASELINE_REPEATS = int(os.environ.get("BENCH_BASELINE_REPEATS", "3"))
BIN = Path(sys.executable).parent

FAILING_PROBE = r"""
import sys, textwrap, time
from pathlib import Path
from plan_pipeline.plan import load_plan
from plan_pipeline.spec import draft_spec
from synthesizer.codegen import GeneratedLogic
from synthesizer.errors import GateFailedError
from synthesizer.synthesize import synthesize_plugin

WRONG = '''
def compute(input):
    risks = []
    for r in input["risks"]:
        score = r["likelihood"] * r["impact"] + (1 if r["impact"] == 3 else 0)
        level = "high" if score >= 15 else ("medium" if score >= 8 else "low")
        risks.append({**r, "score": score, "level": level})
    return {"risks": risks, "high_count": len([r for r in risks if r["level"] == "high"])}
'''
plan = load_plan(sys.argv[1])
spec = draft_spec(plan.stages["risks"], {}, provenance={"plan": "bench", "run_id": "bench"})
logic = GeneratedLogic(generator="wrong", source=WRONG)
t0 = time.perf_counter()
try:
    synthesize_plugin(spec, Path(sys.argv[2]), logic=logic)
except GateFailedError as exc:
    print(time.perf_counter() - t0)
    print(exc.problem, file=sys.stderr)
else:
    raise SystemExit("the wrong plugin passed its gates")
"""

PROBE = r"""
import json, sys, time
from pathlib import Path
from plan_pipeline.plan import load_plan
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.resolver import PluginResolver, activate_run_plugins
from plan_pipeline.stage_runner import run_stage
from plan_pipeline.synthesis import SynthesisMode

plan = load_plan(sys.argv[1]); run_dir = Path(sys.argv[2]); stage = plan.stages[sys.argv[3]]
run_dir.mkdir(parents=True)
activate_run_plugins(run_dir)
resolver = PluginResolver(CapabilityRegistry(), run_dir, SynthesisMode.DRY_RUN, run_id="bench")
for up in stage.upstream():
    run_stage(plan, plan.stages[up], run_dir, "bench", resolver)
t0 = time.perf_counter()
run_stage(plan, stage, run_dir, "bench", resolver)
total = time.perf_counter() - t0
report = next(run_dir.glob(".synth/*/dist/*.report.json"))
print(json.dumps({"total": total, "timings": json.loads(report.read_text())["timings"]}))
"""


def measure_ours(work: Path) -> tuple[list[float], dict[str, list[float]]]:
    totals: list[float] = []
    steps: dict[str, list[float]] = {}
    for rep in range(OURS_REPEATS):
        for stage in STAGES:
            run_dir = work / f"ours-{rep}-{stage}"
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(PLAN), str(run_dir), stage],
                capture_output=True,
                text=True,
                check=True,
                cwd=work,
            ).stdout
            data = json.loads(out.strip().splitlines()[-1])
            totals.append(data["total"])
            known = 0.0
            for name, seconds in data["timings"].items():
                if name in ("dependency audit", "contract tests"):
                    continue  # inside the parallel checks
                steps.setdefault(name, []).append(seconds)
                known += seconds
            steps.setdefault("install, import and run the stage", []).append(data["total"] - known)
    return totals, steps


def measure_failing(work: Path) -> tuple[list[float], str]:
    totals: list[float] = []
    problem = ""
    for rep in range(OURS_REPEATS):
        proc = subprocess.run(
            [sys.executable, "-c", FAILING_PROBE, str(PLAN), str(work / f"failing-{rep}")],
            capture_output=True,
            text=True,
            check=True,
            cwd=work,
        )
        totals.append(float(proc.stdout.strip().splitlines()[-1]))
        problem = proc.stderr.strip().splitlines()[-1]
    return totals, problem


def _replay_file(work: Path, stage_name: str) -> tuple[Path, PluginNames, list[str]]:
    plan = load_plan(PLAN)
    stage = plan.stages[stage_name]
    spec = draft_spec(stage, {}, provenance={"plan": plan.plan.name, "run_id": "bench"})
    names = PluginNames.for_capability(spec.capability)
    context = template_context(spec, RulesCodeGenerator().generate(spec))
    context |= {"_template": str(template_dir()), "_output_dir": str(work)}
    replay = work / f"replay-{stage_name}.json"
    replay.write_text(json.dumps({"cookiecutter": context}))
    pins, _ = check_dependencies(spec.dependencies)
    return replay, names, pins


def _timed(steps: dict[str, list[float]], name: str, command: list[str], **kwargs: object) -> None:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    steps.setdefault(name, []).append(time.perf_counter() - start)
    if proc.returncode != 0:
        raise SystemExit(
            f"baseline step {name} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        )


def measure_baseline(
    work: Path, osv_url: str
) -> tuple[list[float], dict[str, list[float]], list[float]]:
    totals: list[float] = []
    steps: dict[str, list[float]] = {}
    warm_steps: dict[str, list[float]] = {}
    warm_totals: list[float] = []
    warm = warm_hypothesis_storage()
    for rep in range(BASELINE_REPEATS):
        for stage in STAGES:
            folder = work / f"base-{rep}-{stage}"
            folder.mkdir()
            replay, names, pins = _replay_file(folder, stage)
            config = folder / "cookiecutter.yaml"
            config.write_text(f"replay_dir: {folder / 'r'}\ncookiecutters_dir: {folder / 'c'}\n")
            project = folder / names.dist_name
            requirements = folder / "requirements.txt"
            requirements.write_text("\n".join(pins) + "\n")
            storage = folder / "hypothesis"
            shutil.copytree(warm, storage)
            env = {**os.environ, "PYTHONPATH": str(project)}
            warm_env = {**env, "HYPOTHESIS_STORAGE_DIRECTORY": str(storage)}
            before = {k: sum(v) for k, v in steps.items()}
            _timed(
                steps,
                "cookiecutter",
                [
                    str(BIN / "cookiecutter"),
                    "--replay-file",
                    str(replay),
                    "--config-file",
                    str(config),
                    str(template_dir()),
                    "-o",
                    str(folder),
                ],
            )
            _timed(
                steps,
                "python -m build",
                [sys.executable, "-m", "build", "--outdir", str(folder / "dist"), str(project)],
            )
            tests = str(project / "tests")
            pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests]
            _timed(steps, "pytest", pytest, env=env, cwd=project)
            _timed(
                warm_steps,
                "pytest",
                pytest,
                env=warm_env,
                cwd=folder,
            )
            _timed(
                steps, "bandit", [str(BIN / "bandit"), "-q", "-r", str(project / names.module_name)]
            )
            _timed(
                steps,
                "pip-audit",
                [
                    sys.executable,
                    "-m",
                    "pip_audit",
                    "-r",
                    str(requirements),
                    "--no-deps",
                    "--disable-pip",
                    "--strict",
                    "-s",
                    "osv",
                    "--osv-url",
                    osv_url,
                    "--cache-dir",
                    str(folder / "cache"),
                    "--progress-spinner",
                    "off",
                ],
            )
            (wheel,) = (folder / "dist").glob("*.whl")
            _timed(
                steps,
                "pip install",
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--no-index",
                    "--target",
                    str(folder / "site"),
                    str(wheel),
                ],
            )
            totals.append(sum(sum(v) for v in steps.values()) - sum(before.values()))
            warm_totals.append(totals[-1] - steps["pytest"][-1] + warm_steps["pytest"][-1])
    steps["(pytest with a warm hypothesis cache, not counted)"] = warm_steps["pytest"]
    return totals, steps, warm_totals


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.0f}"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ttc-") as tmp:
        work = Path(tmp)
        warm_hypothesis_storage()
        print(
            f"time-to-capability in dry-run, medians over {OURS_REPEATS} x {len(STAGES)} "
            f"syntheses (ours) and {BASELINE_REPEATS} x {len(STAGES)} (baseline), ms"
        )
        ours, our_steps = measure_ours(work)
        print("\nours (fresh process per synthesis, from the miss to the stage output):")
        for name, values in our_steps.items():
            print(f"  {name:<40}{_ms(values)}")
        print(
            f"  {'total':<40}{_ms(ours)}   (min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f})"
        )
        failing, problem = measure_failing(work)
        print(f"\na failing plugin's gates, {len(failing)} fresh processes:")
        print(f"  {problem[:150]}")
        print(
            f"  {'until the gate failure':<40}{_ms(failing)}   "
            f"(min {min(failing) * 1000:.0f}, max {max(failing) * 1000:.0f})"
        )
        with serve_advisories(DEFAULT_ADVISORIES) as url:
            base, base_steps, base_warm = measure_baseline(work, url)
        print("\nbaseline (standard tools one after another, their defaults):")
        for name, values in base_steps.items():
            print(f"  {name:<52}{_ms(values)}")
        print(f"  {'total':<52}{_ms(base)}")
        print(f"  {'total with a warm hypothesis cache':<52}{_ms(base_warm)}")
    ours_median, base_median = statistics.median(ours), statistics.median(base)
    failing_median = statistics.median(failing)
    ratio = base_median / ours_median
    warm_ratio = statistics.median(base_warm) / ours_median
    print(
        f"\nmedian {ours_median:.2f} s (target <= 0.5 s: "
        f"{'meets' if ours_median <= 0.5 else 'MISSES'}); baseline {base_median:.2f} s; "
        f"{ratio:.1f}x faster; {warm_ratio:.1f}x against the baseline with a warm hypothesis "
        f"cache; a failing plugin's gates {failing_median:.2f} s (target <= 5 s: "
        f"{'meets' if failing_median <= 5 else 'MISSES'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
