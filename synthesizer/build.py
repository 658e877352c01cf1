"""Build a plugin project into a wheel and an sdist, reproducibly and in-process.

Isolated builds (``python -m build``) create a fresh environment and install the backend for
every build: about 1.2 s here. The synthesizer instead calls hatchling's builders in-process
(a few milliseconds): the template pins the backend, the project's own environment provides it,
and building runs none of the plugin's code. Builds are reproducible: hatchling normalizes file
order, permissions and timestamps (``SOURCE_DATE_EPOCH``, fixed here when unset), so the same
spec gives byte-identical artifacts, and so does ``python -m build --no-isolation`` with the
same hatchling.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from synthesizer.errors import BuildError

DEFAULT_SOURCE_DATE_EPOCH = "1700000000"


@dataclass(frozen=True)
class BuiltArtifacts:
    wheel: Path
    sdist: Path


@contextmanager
def _source_date_epoch() -> Iterator[None]:
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    if previous is None:
        os.environ["SOURCE_DATE_EPOCH"] = DEFAULT_SOURCE_DATE_EPOCH
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)


def build_project(project: Path, out_dir: Path) -> BuiltArtifacts:
    """Build ``project`` into ``out_dir`` with hatchling, in this process."""
    from hatchling.builders.sdist import SdistBuilder
    from hatchling.builders.wheel import WheelBuilder

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with _source_date_epoch():
            wheel = next(WheelBuilder(str(project)).build(directory=str(out_dir)))
            sdist = next(SdistBuilder(str(project)).build(directory=str(out_dir)))
    except Exception as exc:  # hatchling raises plain exceptions for bad metadata
        raise BuildError(f"building {project.name} failed: {type(exc).__name__}: {exc}") from exc
    return BuiltArtifacts(Path(wheel), Path(sdist))
