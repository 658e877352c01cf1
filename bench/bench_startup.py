"""Pipeline start-up plus capability resolution with 0, 100 and 1,000 installed plugins.

Each measurement is a fresh interpreter that imports the pipeline, scans installed metadata and
loads one capability (a built-in, and one of the installed plugins). Installed plugins are real
``.dist-info`` folders with entry points plus a tiny module each, on the interpreter's path.
Prints medians, the time added over 0 plugins, and the ratio to 0 plugins.
Target: 1,000 installed plugins add at most 100 ms over none.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

COUNTS = (0, 100, 1000)
REPEATS = int(os.environ.get("BENCH_REPEATS", "9"))
TARGET_MS = 100.0

PROBE = """
import time
t0 = time.perf_counter()
from plan_pipeline.run_plan_pipeline import run_pipeline  # noqa: F401  (pipeline start-up)
from plan_pipeline.registry import CapabilityRegistry
registry = CapabilityRegistry()
registry.load("wbs.build")
{extra}
print(time.perf_counter() - t0)
"""

PLUGIN = """import pluggy
hookimpl = pluggy.HookimplMarker("planexe")

@hookimpl
def planexe_describe(capability):
    return {"input_schema": {"type": "object"}, "output_schema": {"type": "object"}}

@hookimpl
def planexe_run(capability, inputs, context):
    return {}
"""


def make_site(root: Path, count: int) -> Path:
    site = root / f"site-{count}"
    site.mkdir()
    for i in range(count):
        module = f"benchplugin_{i:05d}"
        (site / f"{module}.py").write_text(PLUGIN)
        info = site / f"bench_plugin_{i:05d}-1.0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: bench-plugin-{i:05d}\nVersion: 1.0.0\n"
            "Requires-Dist: pluggy\n"
        )
        (info / "entry_points.txt").write_text(f"[planexe.plugins]\nbench.cap_{i:05d} = {module}\n")
        record = [f"{module}.py,,", *(f"{info.name}/{n},," for n in ("METADATA", "RECORD"))]
        (info / "RECORD").write_text("\n".join(record) + "\n")
    return site


def measure(site: Path, count: int) -> tuple[float, float]:
    """Median in-process seconds and median whole-process seconds."""
    extra = f'registry.load("bench.cap_{count // 2:05d}")' if count else ""
    env = dict(os.environ, PYTHONPATH=str(site))
    inner, outer = [], []
    for _ in range(REPEATS):
        start = _now()
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(extra=extra)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        outer.append(_now() - start)
        inner.append(float(out.strip()))
    return statistics.median(inner), statistics.median(outer)


def _now() -> float:
    import time

    return time.perf_counter()


def main() -> int:
    print(f"start-up + resolution, median of {REPEATS} fresh processes")
    print(f"{'plugins':>8} {'in-process ms':>14} {'+ms vs 0':>9} {'ratio':>6} {'process ms':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for count in COUNTS:
            site = make_site(Path(tmp), count)
            results[count] = measure(site, count)
        base_inner, _ = results[0]
        for count in COUNTS:
            inner, outer = results[count]
            added = (inner - base_inner) * 1000
            print(
                f"{count:>8} {inner * 1000:>14.1f} {added:>+9.1f} {inner / base_inner:>6.2f} "
                f"{outer * 1000:>11.1f}"
            )
    added_1000 = (results[1000][0] - base_inner) * 1000
    verdict = "meets" if added_1000 <= TARGET_MS else "MISSES"
    print(f"1,000 plugins add {added_1000:.1f} ms: {verdict} the target of {TARGET_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
