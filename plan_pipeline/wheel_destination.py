"""An ``installer`` destination that can take back what it wrote.

Both the run's plugin install (synthesizer) and the hub's verified install into an
environment use it: a failed install removes every file and folder it created and leaves what
was there before untouched.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from installer.destinations import SchemeDictionaryDestination
from installer.records import RecordEntry
from installer.utils import Scheme


@dataclass
class RecordingDestination(SchemeDictionaryDestination):
    """Remembers the files and folders it creates, so a failed install can remove them."""

    created: list[Path] = field(default_factory=list)

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        target = Path(os.path.abspath(Path(self.scheme_dict[scheme]) / path))
        missing: list[Path] = []
        for created in (target, *target.parents):
            if created.exists():
                break  # existing files and folders stay as they are
            missing.append(created)
        self.created.extend(reversed(missing))  # folders before what they hold
        return super().write_to_fs(scheme, path, stream, is_executable)

    def undo(self) -> None:
        for created in reversed(self.created):
            with contextlib.suppress(OSError):
                created.rmdir() if created.is_dir() else created.unlink()
        self.created.clear()
