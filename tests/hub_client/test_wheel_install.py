"""The in-process install of a verified wheel: what it writes, and what a hostile wheel
cannot make it write."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from hub_client import wheel_install
from hub_client.errors import WheelInstallError
from hub_client.wheel_install import INSTALLER_NAME, install_verified
from tests.venvs import overlay_venv

URL = "http://127.0.0.1:1/files/abc/demo-1.0-py3-none-any.whl"


def _scheme(root: Path) -> dict[str, str]:
    names = ("purelib", "platlib", "scripts", "data", "headers")
    return {name: str(root / name) for name in names}


def _wheel(
    files: dict[str, bytes], name: str = "demo", version: str = "1.0", states: str | None = None
) -> bytes:
    """A wheel holding ``files`` with a RECORD that matches them (so only the paths are
    hostile, never a hash mismatch); its METADATA names ``states`` ("name version") if given."""
    info = f"{name}-{version}.dist-info"
    stated_name, stated_version = (states or f"{name} {version}").split()
    contents = {
        **files,
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {stated_name}\nVersion: {stated_version}\n"
        ).encode(),
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
    with pytest.raises(WheelInstallError, match=r"File already exists.*another distribution owns"):
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


@pytest.mark.parametrize(
    ("name", "version", "problem"),
    [("some-core-plugin", "1.0", "names 'some-core-plugin'"), ("demo", "9.9", "'9.9', not")],
)
def test_a_wheel_whose_metadata_names_another_release_is_refused(
    tmp_path: Path, name: str, version: str, problem: str
) -> None:
    """The registry takes a plugin's name and version from METADATA: a wheel may not claim
    another distribution's (whose signed tier it would borrow) or another version."""
    data = _wheel({"demo/__init__.py": b""}, states=f"{name} {version}")
    with pytest.raises(WheelInstallError, match=problem):
        install_verified(data, "demo-1.0-py3-none-any.whl", URL, "abc", _scheme(tmp_path))
    assert not (tmp_path / "purelib").exists()


def test_an_interrupted_install_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    write = wheel_install.RecordingDestination.write_to_fs

    def interrupted(self: object, scheme: str, path: str, stream: object, is_exec: bool) -> object:
        if written:
            raise KeyboardInterrupt
        written.append(path)
        return write(self, scheme, path, stream, is_exec)  # type: ignore[arg-type]

    monkeypatch.setattr(wheel_install.RecordingDestination, "write_to_fs", interrupted)
    data = _wheel({"demo/__init__.py": b"", "demo/more.py": b""})
    with pytest.raises(KeyboardInterrupt):
        install_verified(data, "demo-1.0-py3-none-any.whl", URL, "abc", _scheme(tmp_path))
    assert written and _tree(tmp_path) == []


INSTALL_HERE = """
import json, sys
from pathlib import Path
from hub_client.wheel_install import install_here
data = Path(sys.argv[1]).read_bytes()
print(json.dumps(install_here(data, "demo-1.0-py3-none-any.whl", sys.argv[2], sys.argv[3],
                              "demo", "1.0")))
"""


def test_into_a_virtualenv_with_headers_and_never_over_another_copy(tmp_path: Path) -> None:
    """In a real virtualenv: a wheel with C headers installs; installing it again is a no-op;
    a copy of the same version holding other files is left for an installer to replace
    (False), whatever install record it claims."""
    python = overlay_venv(tmp_path / "venv")
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(_wheel({"demo/__init__.py": b"", "demo-1.0.data/headers/demo.h": b"int x;"}))
    other = tmp_path / "other" / wheel.name
    other.parent.mkdir()
    other.write_bytes(_wheel({"demo/__init__.py": b"STOLEN = 1\n"}))

    def install_here(data: Path, sha256: str) -> bool:
        out = subprocess.run([python, "-c", INSTALL_HERE, str(data), URL, sha256],
                             capture_output=True, text=True, check=True)  # fmt: skip
        return bool(json.loads(out.stdout))

    assert install_here(wheel, "abc") is True
    headers = list((tmp_path / "venv" / "include").rglob("demo.h"))
    assert [h.read_text() for h in headers] == ["int x;"]
    assert install_here(wheel, "abc") is True  # these files are there already
    assert install_here(other, "abc") is False  # another copy: not these files


@pytest.mark.parametrize(
    "path",
    [
        "evil.pth",
        "sitecustomize.py",
        "usercustomize/__init__.py",
        "demo-1.0.data/purelib/zz.pth",
        "demo-1.0.data/platlib/sitecustomize.py",
        "demo-1.0.data/data/lib/python3.11/site-packages/zz.pth",
        "demo-1.0.data/scripts/python3",
    ],
)
def test_a_wheel_with_start_up_code_is_refused_before_any_install(path: str) -> None:
    """Code that would run at every start of the environment's Python (in the pipeline and
    in every sandbox worker's interpreter, whatever the plugin's tier) never gets in."""
    data = _wheel({"demo/__init__.py": b"", path: b"import os; os.system('id')\n"})
    with pytest.raises(WheelInstallError, match="would run at every start"):
        wheel_install.check_startup_code(data, "demo-1.0-py3-none-any.whl")
    plain = _wheel({"demo/__init__.py": b"", "demo-1.0.data/scripts/demo-tool": b"#!python\n"})
    wheel_install.check_startup_code(plain, "demo-1.0-py3-none-any.whl")
