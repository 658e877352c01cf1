"""Installing a verified wheel into the running virtualenv, in this process (pypa ``installer``).

The client holds the wheel's bytes in memory, checked against the signed metadata. Installing
those very bytes needs no second download and no installer process: uv or pip first query the
target interpreter, which costs about 50 ms on a new environment, more than the rest of the
reuse path's install. ``installer`` is the PyPA's reference wheel installer; it refuses paths
outside the scheme's folders.

Used only where it is the whole job: the target is this interpreter's virtualenv, and no
copy of the distribution is installed there (replacing one needs an uninstall, which uv does).
The environment's lock file is held meanwhile (the one uv locks), so concurrent installs into
one environment take turns. The wheel's own metadata must name the release's distribution and
version, as uv and pip require. A failed or interrupted install removes every file and folder
it created.
``direct_url.json`` records the hub's content address, as uv and pip write it for the pinned
URL install; it is a note for people, never trusted (``plan_pipeline/installed_files.py``).
"""

from __future__ import annotations

import contextlib
import email.parser
import fcntl
import io
import json
import os
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from installer import install
from installer.sources import WheelFile
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from hub_client.errors import WheelInstallError
from plan_pipeline.installed_files import installed_files_problem, wheel_files_sha256
from plan_pipeline.wheel_destination import RecordingDestination

INSTALLER_NAME = "planexe-plugin-hub"


def installs_here(python: str | None) -> bool:
    """Whether ``python`` is this process's interpreter, running in a virtualenv."""
    return (python is None or python == sys.executable) and sys.prefix != sys.base_prefix


def install_here(
    data: bytes, filename: str, url: str, sha256: str, dist_name: str, version: str
) -> bool:
    """Install the verified wheel ``data`` into this virtualenv unless another copy of the
    distribution is there; True when these bytes are installed here now (also by another
    process meanwhile), False when an installer must replace another copy."""
    try:
        with _environment_lock():
            present = _installed(dist_name)
            if present is not None:
                return installed_files_problem(present, wheel_files_sha256(data)) is None
            install_verified(data, filename, url, sha256, expect=(dist_name, version))
            return True
    except OSError as exc:  # the lock file: a read-only or vanished environment
        raise WheelInstallError(
            f"cannot install {filename} into {sys.prefix}: {exc.strerror or exc}",
            "Check that the virtualenv is writable",
        ) from None


_STARTUP_MODULES = frozenset(
    {"sitecustomize.py", "usercustomize.py", "sitecustomize", "usercustomize"}
)


def check_startup_code(data: bytes, filename: str) -> None:
    """Refuse a wheel that would run code whenever the environment's Python starts: a
    ``.pth`` file or a ``sitecustomize``/``usercustomize`` module in site-packages, data files
    written into the environment's ``lib`` folder, or a script named like the interpreter.
    Such code would run in the pipeline's process and in every sandbox worker's interpreter,
    outside any tier, and would outlive a revocation; uv and pip install all of these."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as exc:
        raise WheelInstallError(f"{filename} is not a wheel: {exc}") from None
    for name in names:
        if _runs_at_startup(name):
            raise WheelInstallError(
                f"{filename} holds {name[:120]!r}, which would run at every start of the "
                "environment's Python: refusing it",
                "Plugins may not ship start-up code (.pth, sitecustomize, data in lib/); "
                "revoke it on the hub",
            )


def _runs_at_startup(name: str) -> bool:
    parts = name.split("/")
    scheme, rest = "purelib", parts
    if len(parts) > 2 and parts[0].endswith(".data"):
        scheme, rest = parts[1], parts[2:]
    top = rest[0]
    if scheme in ("purelib", "platlib"):
        return top.endswith(".pth") or top in _STARTUP_MODULES
    if scheme == "data":
        return top == "lib"
    if scheme == "scripts":
        return top.startswith("python")
    return False


@contextlib.contextmanager
def _environment_lock() -> Iterator[None]:
    """This virtualenv's lock (``<prefix>/.lock``, the file uv locks for its installs)."""
    with open(Path(sys.prefix) / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _installed(dist_name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None


def install_verified(
    data: bytes,
    filename: str,
    url: str,
    sha256: str,
    scheme: dict[str, str] | None = None,
    expect: tuple[str, str] | None = None,
) -> None:
    """Install the wheel ``data`` (``filename``, already checked to have ``sha256``) into this
    virtualenv (or the folders of ``scheme``), recording ``url`` as where it came from. Its
    metadata must name the distribution and version of its file name (or ``expect``)."""
    direct_url = {"url": url, "archive_info": {"hashes": {"sha256": sha256}}}
    destination = RecordingDestination(
        scheme_dict=scheme or _scheme(filename.split("-")[0]),
        interpreter=sys.executable,
        script_kind="posix",
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.filename = filename
            source = WheelFile(archive)
            source.validate_record()
            _check_metadata(source, expect or (source.distribution, source.version))
            install(
                source,
                destination,
                {
                    "INSTALLER": f"{INSTALLER_NAME}\n".encode(),
                    "direct_url.json": json.dumps(direct_url).encode(),
                },
            )
    except BaseException as exc:  # interrupted too: nothing half-installed stays
        destination.undo()
        if not isinstance(exc, Exception):
            raise
        if isinstance(exc, FileExistsError):
            raise WheelInstallError(
                f"installing {filename} failed: {exc}",
                "Nothing of it was installed; another distribution owns that file: uninstall it",
            ) from None
        if isinstance(exc, OSError):
            raise WheelInstallError(
                f"installing {filename} failed: {exc.strerror or exc}",
                "Nothing of it was installed; check that the virtualenv is writable and has space",
            ) from None
        raise WheelInstallError(
            f"installing {filename} failed: {type(exc).__name__}: {exc}",
            "Nothing of it was installed; the wheel is broken: revoke it on the hub",
        ) from None


def _scheme(dist_name: str) -> dict[str, str]:
    """This environment's install folders; C headers where pip puts them in a virtualenv."""
    paths = sysconfig.get_paths()
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths.setdefault("headers", os.path.join(sys.prefix, "include", "site", python, dist_name))
    return paths


def _check_metadata(source: WheelFile, expect: tuple[str, str]) -> None:
    """The wheel's own ``METADATA`` must name ``expect``'s distribution and version, as uv and
    pip require: the registry takes a plugin's name from there."""
    fields = email.parser.HeaderParser().parsestr(
        source.read_dist_info("METADATA") if "METADATA" in source.dist_info_filenames else ""
    )
    name, version = fields.get("Name") or "", fields.get("Version") or ""
    try:
        same = canonicalize_name(name) == canonicalize_name(expect[0]) and Version(
            version
        ) == Version(expect[1])
    except InvalidVersion:
        same = False
    if not same:
        raise ValueError(
            f"its METADATA names {name[:80]!r} {version[:40]!r}, not {expect[0]} {expect[1]}"
        )
