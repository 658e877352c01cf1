"""Lower layers never import upper ones at module level: the pipeline (``plan_pipeline``)
neither the synthesizer nor the hub, the synthesizer not the hub. A fresh interpreter
imports every module of a layer and lists what came with it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not info.name.endswith(("worker_main", "__main__")):
        importlib.import_module(info.name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize(
    ("layer", "above"),
    [("plan_pipeline", {"synthesizer", "hub_index"}), ("synthesizer", {"hub_index"})],
)
def test_a_layer_imports_nothing_above_it(layer: str, above: set[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, layer], capture_output=True, text=True, check=True
    )
    assert not set(json.loads(done.stdout)) & above
