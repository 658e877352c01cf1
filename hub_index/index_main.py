"""The hub's package index: pypiserver, listing only the files the hub itself serves.

Run as ``python -m hub_index.index_main MANIFEST <pypiserver's arguments>``
(``server.index_command``). pypiserver lists whatever is in its folder; here its backend (the
one the arguments choose) is wrapped so that a file is listed, and so downloadable, only
while the manifest (``served.json``, written by ``index_files.IndexFiles``) names it with
the file's present inode, size and modification time. A wheel placed in the folder by hand,
or a served one replaced in place, is neither listed nor served, from the moment it appears.
The manifest is read again whenever its own stamp changes.
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

from pypiserver import config as pypiserver_config
from pypiserver.backend import Backend, BackendProxy, IBackend
from pypiserver.core import PkgFile

from hub_index.index_files import file_stamp, read_manifest


class ServedOnly(Backend):  # type: ignore[misc]
    """pypiserver's backend ``inner``, limited to the files the manifest names as they are."""

    def __init__(self, config: t.Any, inner: IBackend, manifest: Path) -> None:
        super().__init__(config)
        self.inner = inner
        self.manifest = manifest
        self._read: tuple[list[int] | None, dict[str, list[int]]] = (None, {})

    def _entries(self) -> dict[str, list[int]]:
        try:
            stamp: list[int] | None = file_stamp(self.manifest)
        except OSError:
            stamp = None
        if stamp != self._read[0]:
            self._read = (stamp, read_manifest(self.manifest))
        return self._read[1]

    def get_all_packages(self) -> t.Iterable[PkgFile]:
        entries = self._entries()
        for package in self.inner.get_all_packages():
            if package.fn is None:
                continue
            path = Path(package.fn)
            try:
                if entries.get(path.name) == file_stamp(path):
                    yield package
            except OSError:
                continue

    def add_package(self, filename: str, stream: t.BinaryIO) -> None:
        raise PermissionError("only the hub adds files to its index")

    def remove_package(self, pkg: PkgFile) -> None:
        raise PermissionError("only the hub removes files from its index")

    def exists(self, filename: str) -> bool:
        return any(p.relfn_unix == filename for p in self.get_all_packages())


def main() -> None:
    manifest, arguments = Path(sys.argv[1]), sys.argv[2:]
    chosen = pypiserver_config.RunConfig.get_backend

    def served_only(self: t.Any, arg: str) -> IBackend:
        return BackendProxy(ServedOnly(self, chosen(self, arg), manifest))

    pypiserver_config.RunConfig.get_backend = served_only
    from pypiserver.__main__ import main as pypiserver_main

    pypiserver_main(arguments)


if __name__ == "__main__":
    main()
