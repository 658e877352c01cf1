"""The hub's hot paths, on loopback with a real pypiserver.

1. Reuse: a stage misses a capability the hub already has; measured from the miss to the
   stage output (find on the hub, download, sha256 and signature check, install of the
   verified bytes, registry refresh, stage run in a sandboxed worker), each time in a fresh
   process and a fresh virtualenv with an empty wheel and metadata cache, with an empty index
   and with 10,000 other files in it. The signed-metadata check (TUF refresh against the policy's
   root, then the release's lookup) is timed inside the same runs, so the path without it
   is measured beside it. Target: median at most 100 ms.
2. Index listing: the time of one project page (``/simple/<name>/``, what an installer reads)
   with 1,000 and 10,000 files in the index, for pypiserver's ``simple-dir`` backend (lists
   and hashes the folder on every request) and its ``cached-dir`` backend.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub_client.client import PluginHubClient  # noqa: E402
from hub_client.local_home import HubHome  # noqa: E402
from hub_index.home import init_home  # noqa: E402
from hub_index.index_files import file_stamp, read_manifest  # noqa: E402
from hub_index.server import embedded_hub  # noqa: E402
from plan_pipeline.spec import PluginSpec  # noqa: E402
from plan_pipeline.trust import Tier  # noqa: E402
from synthesizer.build import build_project  # noqa: E402
from synthesizer.render import render_project  # noqa: E402
from synthesizer.rules_codegen import RulesCodeGenerator  # noqa: E402
from tests.venvs import overlay_venv  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
LISTING_REQUESTS = 30

PLAN = """\
name: area
stages:
  - name: area
    capability: geometry.area
    inputs: {w: {value: 3}, h: {value: 4}}
"""

PROBE = r"""
import json, sys, time
from pathlib import Path
from plan_pipeline.plan import load_plan
from plan_pipeline.registry import CapabilityRegistry
from plan_pipeline.resolver import PluginResolver
from plan_pipeline.stage_runner import run_stage
from plan_pipeline.synthesis import SynthesisMode
plan = load_plan(sys.argv[1]); run_dir = Path(sys.argv[2]); run_dir.mkdir()
resolver = PluginResolver(CapabilityRegistry(), run_dir, SynthesisMode.PUBLISH, run_id="bench")
import hub_client.hub_synthesizer  # imported before the miss, as in a running pipeline
from hub_client import metadata_client
spent = [0.0]
depth = [0]
def timed(method):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        depth[0] += 1
        try:
            return method(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                spent[0] += time.perf_counter() - start
    return wrapper
for name in ("refresh", "release"):  # the signed-metadata check, outermost calls only
    setattr(metadata_client.TrustedReleases, name,
            timed(getattr(metadata_client.TrustedReleases, name)))
t0 = time.perf_counter()
run_stage(plan, plan.stages["area"], run_dir, "bench", resolver)
print(time.perf_counter() - t0, spent[0])
"""


def _spec() -> PluginSpec:
    return PluginSpec.model_validate(
        {
            "capability": "geometry.area",
            "stage_name": "area",
            "input_schema": {
                "type": "object",
                "required": ["w", "h"],
                "properties": {
                    "w": {"type": "number", "minimum": 0, "maximum": 1000},
                    "h": {"type": "number", "minimum": 0, "maximum": 1000},
                },
            },
            "output_schema": {"type": "object", "required": ["area"]},
            "rules": [{"set": "area", "expr": "input.w * input.h"}],
        }
    )


def _fill(home: HubHome, count: int, extra: dict[str, bytes] | None = None) -> None:
    """``count`` other files in the served folder, and ``extra`` ones, served as the hub
    serves its own (written after the hub started: at start it moves unrecorded files out;
    listed in its manifest of served files, as its own moves would list them)."""
    files = {f"filler{i:05d}-1.0-py3-none-any.whl": b"x" * 64 for i in range(count)}
    files |= extra or {}
    for name, data in files.items():
        (home.packages / name).write_bytes(data)
    served = read_manifest(home.served_manifest)
    served |= {name: file_stamp(home.packages / name) for name in files}
    home.served_manifest.write_text(json.dumps(served))


def bench_reuse(work: Path, fillers: int) -> tuple[list[float], list[float]]:
    """Each run's whole reuse path and the part of it spent on the signed metadata."""
    home = init_home(work / f"hub-reuse-{fillers}")
    spec = _spec()
    logic = RulesCodeGenerator().generate(spec)
    project = render_project(spec, logic, work / f"src-{fillers}")
    wheel = build_project(project, work / f"dist-{fillers}").wheel
    plan = work / "plan.yaml"
    plan.write_text(PLAN)
    times, checks = [], []
    with embedded_hub(home) as hub:
        _fill(home, fillers)
        client = PluginHubClient.from_home(home, hub.api_url)
        record = client.publish_generated(spec, logic, wheel, owner="bench")
        client.cache_dir = work / f"admin-cache-{fillers}"
        client.promote(record.plugin_id, Tier.VERIFIED)
        for rep in range(REPEATS):
            python = overlay_venv(work / f"venv-{fillers}-{rep}")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")},
                "PLANEXE_HUB_HOME": str(home.root),
                "XDG_CACHE_HOME": str(work / f"cache-{fillers}-{rep}"),
            }
            out = subprocess.run(
                [python, "-c", PROBE, str(plan), str(work / f"run-{fillers}-{rep}")],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
            total, check = (float(x) for x in out.strip().splitlines()[-1].split())
            times.append(total)
            checks.append(check)
    return times, checks


def _listing_median(url: str) -> float:
    samples = []
    for _ in range(LISTING_REQUESTS):
        start = time.perf_counter()
        with urllib.request.urlopen(url) as response:
            response.read()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_listing(work: Path, count: int, backend: str) -> float:
    home = init_home(work / f"hub-{count}-{backend}")
    with embedded_hub(home, backend=backend) as hub:
        _fill(home, count, {"planexe_gen_geometry_area-1.0.0-py3-none-any.whl": b"y" * 64})
        url = hub.simple_url + "planexe-gen-geometry-area/"
        _listing_median(url)  # warm
        return _listing_median(url)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        work = Path(tmp)
        print(f"reuse path (miss -> fetch -> verify -> install -> stage output), {REPEATS} runs:")
        medians, without = {}, {}
        for fillers in (0, 10000):
            reuse, checks = bench_reuse(work, fillers)
            medians[fillers] = statistics.median(reuse)
            without[fillers] = statistics.median(t - c for t, c in zip(reuse, checks, strict=True))
            print(
                f"  {fillers:>6} other files in the index: median {medians[fillers] * 1000:.0f} "
                f"ms (min {min(reuse) * 1000:.0f}, max {max(reuse) * 1000:.0f}); signed-metadata "
                f"check median {statistics.median(checks) * 1000:.0f} ms; the path without it "
                f"{without[fillers] * 1000:.0f} ms "
                f"(ratio {medians[fillers] / without[fillers]:.2f})"
            )
        verdict = "meets" if max(medians.values()) <= 0.1 else "MISSES"
        print(
            f"  target median <= 100 ms: {verdict}; ratio 10,000 files / empty: "
            f"{medians[10000] / medians[0]:.2f}"
        )
        print(f"\nindex project page (/simple/<name>/), median of {LISTING_REQUESTS} requests, ms:")
        print(f"  {'files':>7} {'simple-dir':>11} {'cached-dir':>11} {'ratio':>6}")
        for count in (1000, 10000):
            simple = bench_listing(work, count, "simple-dir")
            cached = bench_listing(work, count, "cached-dir")
            print(
                f"  {count:>7} {simple * 1000:>11.1f} {cached * 1000:>11.1f} "
                f"{simple / cached:>6.1f}"
            )
    print(
        "\nA project page costs time in proportion to the index (pypiserver scans every file, "
        "cached or not).\nThe hub's clients never read one: they find plugins through the "
        "metadata API (indexed by capability)\nand fetch and install the file by its content "
        "address on the hub (/files/<sha256>/<name>), pinned by sha256."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
