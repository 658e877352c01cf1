"""A clone stands alone: nothing the project runs or tests reads a path outside the
repository (its test data is copied in, under ``tests/data``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"ROOT\.parent\b|parents\[(?P<n>\d+)\]|\.\./shared|shared.{1,12}test" r"data")
"""The repository's root's parent, a ``parents[N]`` above the root, or the shared folder
beside a checkout (``../`` alone is no sign: the tests are full of traversal attacks)."""


def test_no_tracked_file_reads_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.sh", "Makefile", "*.toml", "*.cfg", ".ci/*"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    found = []
    for name in tracked:
        path = ROOT / name
        depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the root
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in OUTSIDE.finditer(line):
                if match["n"] is not None and int(match["n"]) <= depth:
                    continue  # a folder inside the repository
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []


def test_the_copied_test_data_is_in_the_repository() -> None:
    data = ROOT / "tests" / "data" / "sigstore-production"
    assert sorted(p.name for p in data.iterdir()) == [
        "rfc8785-0.1.2-py3-none-any.whl", "rfc8785-0.1.2-py3-none-any.whl.sigstore.json"
    ]  # fmt: skip
