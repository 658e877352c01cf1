"""Throwaway virtualenvs for tests and benchmarks.

An overlay environment is a new virtualenv whose own site-packages is empty, plus a ``.pth``
file that adds this project's environment as a further site folder. The project and its
dependencies import there, while whatever the test installs (pip, uv, the hub client) goes
into, and is removed from, the new environment only.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def overlay_venv(path: Path, with_pip: bool = False) -> str:
    """Create the overlay virtualenv at ``path``; return its python."""
    command = [sys.executable, "-m", "venv", str(path)]
    if not with_pip:
        command.insert(3, "--without-pip")
    subprocess.run(command, check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    # processed like a site dir, so the project's editable install and its .pth files load too
    (Path(site) / "_project_site.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return str(python)
