"""The LLM backend's own overhead per round: everything but the model's time.

Each measurement is a fresh process that synthesizes the example plan's risk plugin with the
LLM backend against the loopback chat-completions stand-in (the tests' one; it answers at
once from a script): one round (a right answer), and two rounds (a wrong answer whose failed
contract tests go back, then a right one). The model's time is what the client measured
per completion (the stand-in's loopback round trip); the overhead is the rest: the prompt,
parsing, every gate, the report. Baseline, in the same run: the same synthesis with the
offline rules generator, which has no model time at all.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))

PROBE = r"""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from synthesizer.synthesize import SynthesisOptions, synthesize_plugin
from tests.synthesizer.conftest import example_specs
from tests.synthesizer.llm_helpers import CORRECT_RISK, WRONG_RISK, KEY_ENV
from tests.synthesizer.llm_helpers import entry, fenced, write_config
from tests.synthesizer.openai_standin import Reply, serve

mode, work = sys.argv[2], Path(sys.argv[3])
spec = example_specs()["risk.score_matrix"]
os.environ[KEY_ENV] = "sk-bench"
if mode == "rules":
    started = time.perf_counter()
    synthesize_plugin(spec, work / "out", SynthesisOptions())
    print(json.dumps({"total": time.perf_counter() - started, "model": 0.0, "rounds": 1}))
    raise SystemExit
from synthesizer.llm_synthesis import synthesize_with_llm
answers = [Reply(fenced(CORRECT_RISK))] if mode == "one" else [
    Reply(fenced(WRONG_RISK)), Reply(fenced(CORRECT_RISK))]
with serve(*answers) as standin:
    config = write_config(work / "llm_config.json", {"standin": entry(standin.url)})
    options = SynthesisOptions(llm_config=config)
    started = time.perf_counter()
    result = synthesize_with_llm(spec, work / "out", options, lambda line: None)
    total = time.perf_counter() - started
attempts = result.report.attempts
print(json.dumps({"total": total, "model": sum(a.latency_s for a in attempts),
                  "rounds": len(attempts)}))
"""


def _measure(mode: str) -> list[dict[str, float]]:
    samples = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
            done = subprocess.run(
                [sys.executable, "-c", PROBE, str(ROOT), mode, tmp],
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the {mode} probe failed: {done.stderr.strip()[-500:]}")
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return samples


def _median(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    rules = _measure("rules")
    one = _measure("one")
    two = _measure("two")
    assert all(s["rounds"] == 1 for s in one) and all(s["rounds"] == 2 for s in two)
    baseline = _median([s["total"] for s in rules])
    per_round_one = _median([(s["total"] - s["model"]) for s in one])
    per_round_two = _median([(s["total"] - s["model"]) / 2 for s in two])
    model = _median([s["model"] / s["rounds"] for s in one + two])
    print(f"LLM backend against the loopback stand-in, medians of {REPEATS} fresh processes, ms")
    print(f"  rules generator, whole synthesis (baseline)    {baseline:7.0f}")
    print(f"  llm, 1 round: overhead (all but the model)     {per_round_one:7.0f}")
    print(f"  llm, 2 rounds: overhead per round              {per_round_two:7.0f}")
    print(f"  model time per round (stand-in round trip)     {model:7.1f}")
    print(
        f"overhead per round {per_round_two / 1000:.2f} s in a repair loop, "
        f"{per_round_one / baseline:.2f}x the rules generator's synthesis for one round"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
