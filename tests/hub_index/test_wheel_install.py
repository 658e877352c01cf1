"""The in-process install of a verified wheel: what it writes, and what a hostile wheel
cannot make it write."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from hub_index.errors import WheelInstallError
from hub_index.wheel_install import INSTALLER_NAME, install_verified

URL = "http://127.0.0.1:1/files/abc/demo-1.0-py3-none-any.whl"


def _scheme(root: Path) -> dict[str, str]:
    names = ("purelib", "platlib", "scripts", "data", "headers")
    return {name: str(root / name) for name in names}


def _wheel(files: dict[str, bytes], name: str = "demo", version: str = "1.0") -> bytes:
    """A wheel holding ``files`` with a RECORD that matches them (so only the paths are
    hostile, never a hash mismatch)."""
    info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    lines = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{info}/RECORD,,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", "\n".join(lines) + "\n")
    return buffer.getvalue()


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_installs_the_files_and_records_where_they_came_from(tmp_path: Path) -> None:
    scheme = _scheme(tmp_path)
    data = _wheel({"demo/__init__.py": b"VALUE = 1\n"})
    install_verified(data, "demo-1.0-py3-none-any.whl", URL, "abc", scheme)
    purelib = tmp_path / "purelib"
    assert (purelib / "demo" / "__init__.py").read_bytes() == b"VALUE = 1\n"
    info = purelib / "demo-1.0.dist-info"
    assert (info / "INSTALLER").read_text().strip() == INSTALLER_NAME
    direct = json.loads((info / "direct_url.json").read_text())
    assert direct == {"url": URL, "archive_info": {"hashes": {"sha256": "abc"}}}
    assert "demo/__init__.py" in (info / "RECORD").read_text()


@pytest.mark.parametrize(
    "path", ["../escaped.py", "demo/../../escaped.py", "/tmp/absolute-escape.py"]
)
def test_a_path_outside_the_environment_is_refused_and_nothing_stays(
    tmp_path: Path, path: str
) -> None:
    scheme = _scheme(tmp_path / "env")
    (tmp_path / "env" / "purelib").mkdir(parents=True)
    data = _wheel({"demo/__init__.py": b"", path: b"import os\n"})
    with pytest.raises(WheelInstallError, match=r"installing demo-1.0-py3-none-any.whl failed"):
        install_verified(data, "demo-1.0-py3-none-any.whl", URL, "abc", scheme)
    assert not (tmp_path / "escaped.py").exists()
    assert not Path("/tmp/absolute-escape.py").exists()
    assert _tree(tmp_path / "env") == ["purelib"]


def test_a_failure_halfway_removes_what_it_wrote_and_keeps_what_was_there(
    tmp_path: Path,
) -> None:
    scheme = _scheme(tmp_path)
    purelib = tmp_path / "purelib"
    (purelib / "shared").mkdir(parents=True)
    (purelib / "shared" / "taken.py").write_text("theirs\n")
    data = _wheel({"demo/__init__.py": b"", "demo/sub/x.py": b"", "shared/taken.py": b"ours\n"})
    with pytest.raises(WheelInstallError, match="FileExistsError"):
        install_verified(data, "demo-1.0-py3-none-any.whl", URL, "abc", scheme)
    assert _tree(tmp_path) == ["purelib", "purelib/shared", "purelib/shared/taken.py"]
    assert (purelib / "shared" / "taken.py").read_text() == "theirs\n"


def test_a_wheel_of_another_name_than_its_file_is_refused(tmp_path: Path) -> None:
    data = _wheel({"other/__init__.py": b""}, name="other")
    with pytest.raises(WheelInstallError, match="match wheel filename"):
        install_verified(data, "demo-1.0-py3-none-any.whl", URL, "abc", _scheme(tmp_path))
    assert not (tmp_path / "purelib").exists()


def test_a_wheel_whose_record_lies_is_refused(tmp_path: Path) -> None:
    data = bytearray(_wheel({"demo/__init__.py": b"VALUE = 1\n"}))
    at = data.index(b"VALUE = 1")
    data[at : at + 9] = b"VALUE = 2"  # stored uncompressed: the content no longer matches
    with pytest.raises(WheelInstallError, match="installing demo"):
        install_verified(bytes(data), "demo-1.0-py3-none-any.whl", URL, "abc", _scheme(tmp_path))
    assert not (tmp_path / "purelib").exists()
