"""Each part imports every one of its modules in a virtualenv that holds only its own install:
a requirement missing from a part fails here, not at a user's. The parts: the worker
(``plan_pipeline``, ``hub_client``; no extra), the synthesizer (``[synth]``) and the hub
server (``[hub]``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.installed.conftest import ROOT, Installs, ok, run

PROBE = """
import importlib, json, pkgutil, sys
imported, failed = [], {}
for top in sys.argv[1:]:
    package = importlib.import_module(top)
    for info in [None, *pkgutil.walk_packages(package.__path__, top + ".")]:
        name = top if info is None else info.name
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"imported": imported, "failed": failed, "path": sys.path,
                  "files": [importlib.import_module(t).__file__ for t in sys.argv[1:]]}))
"""

PARTS = {
    "worker": ("plan_pipeline", "hub_client"),
    "synth": ("plan_pipeline", "hub_client", "synthesizer"),
    "hub": ("plan_pipeline", "hub_client", "synthesizer", "hub_index"),
}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_every_module_of_a_part_imports_with_that_parts_install_alone(
    part: str, installs: Installs, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bin_dir: Path = request.getfixturevalue(f"{part}_bin")
    answer = json.loads(ok(run(bin_dir / "python", "-c", PROBE, *PARTS[part], cwd=tmp_path)))
    assert answer["failed"] == {}
    sources = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "examples"}
    expected = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PARTS[part]
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    }
    assert expected <= set(answer["imported"])
    # from the installed wheel, not the checkout or the development environment
    venv = str(bin_dir.parent)
    assert all(f.startswith(venv) for f in answer["files"])
    assert not [p for p in answer["path"] if p.startswith(str(ROOT))]
    assert sources >= set(PARTS[part])


def test_the_worker_install_has_none_of_the_extras(worker_bin: Path, tmp_path: Path) -> None:
    listed = json.loads(ok(run(worker_bin / "python", "-m", "pip", "list", "--format", "json",
                               cwd=tmp_path)))  # fmt: skip
    names = {p["name"].lower() for p in listed}
    assert "sigstore" in names  # the worker verifies signature bundles itself
    assert not names & {"pypiserver", "fastapi", "sqlalchemy", "bandit", "cookiecutter"}


def test_the_install_carries_the_rules_language_reference(synth_bin: Path, tmp_path: Path) -> None:
    """Refusals of rules point at it, so it must be where a pip install puts the package."""
    probe = (
        "import importlib.resources as r; "
        "print((r.files('plan_pipeline') / 'RULES.md').read_text())"
    )
    shipped = ok(run(synth_bin / "python", "-c", probe, cwd=tmp_path))
    assert shipped == (ROOT / "docs" / "RULES.md").read_text() + "\n"
