"""Lower layers never import upper ones at module level: the pipeline (``plan_pipeline``)
neither the synthesizer nor either side of the hub, the synthesizer not the hub, and the
worker's side of the hub (``hub_client``) nothing of the server (``hub_index``) or the
synthesizer. A fresh interpreter imports every module of a layer and lists what came with it;
for the worker's side, no module names the server anywhere, even inside a function."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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
    [
        ("plan_pipeline", {"synthesizer", "hub_client", "hub_index"}),
        ("synthesizer", {"hub_client", "hub_index"}),
        ("hub_client", {"synthesizer", "hub_index"}),
    ],
)
def test_a_layer_imports_nothing_above_it(layer: str, above: set[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, layer], capture_output=True, text=True, check=True
    )
    assert not set(json.loads(done.stdout)) & above


def test_no_module_of_the_worker_side_imports_the_server_anywhere() -> None:
    """Not even lazily: a worker install has no server, so such an import would fail there."""
    root = Path(__file__).resolve().parents[2] / "hub_client"
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "hub_index"]
    assert found == []
