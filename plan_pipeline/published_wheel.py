"""What a generated plugin's wheel says of itself, read as data (never imported): the spec
it was made from (its ``spec.py``) and its ``logic`` module, as the plugin template lays them
out. Near matches, duplicates, lineage checks and revocations read wheels through this."""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from io import BytesIO

from pydantic import ValidationError

from plan_pipeline.capability_names import package_slug
from plan_pipeline.spec import PluginSpec

GENERATED_MODULE_PREFIX = "planexe_gen_"
"""A generated plugin's package is this prefix and its capability's slug."""
MAX_MEMBER_BYTES = 1024 * 1024
"""The largest ``spec.py`` or ``logic.py`` read (a generated plugin's are far smaller)."""
_SPEC_JSON = re.compile(r'json\.loads\(\s*r"""(.*)"""\s*\)', re.DOTALL)


@dataclass(frozen=True)
class PublishedPlugin:
    """What a verified wheel of a generated plugin says of itself: its spec and logic."""

    dist_name: str
    version: str
    spec: PluginSpec
    logic: str

    @property
    def logic_sha256(self) -> str:
        return hashlib.sha256(self.logic.encode("utf-8")).hexdigest()


def read_published(wheel: bytes, dist_name: str, version: str) -> PublishedPlugin | None:
    """The spec and logic module of a generated plugin's wheel (read as data, never
    imported); ``None`` for a wheel not laid out by the plugin template."""
    try:
        with zipfile.ZipFile(BytesIO(wheel)) as archive:
            names = set(archive.namelist())
            for spec_name in sorted(n for n in names if n.endswith("/spec.py")):
                folder = spec_name.rsplit("/", 1)[0]
                if "/" in folder or f"{folder}/logic.py" not in names:
                    continue
                sizes = (archive.getinfo(n).file_size for n in (spec_name, f"{folder}/logic.py"))
                if max(sizes) > MAX_MEMBER_BYTES:
                    continue  # not a generated plugin's, and not read into memory
                found = _SPEC_JSON.search(archive.read(spec_name).decode("utf-8"))
                if found is None:
                    continue
                spec = PluginSpec.model_validate_json(found.group(1))
                if GENERATED_MODULE_PREFIX + package_slug(spec.capability) != folder:
                    continue
                logic = archive.read(f"{folder}/logic.py").decode("utf-8")
                return PublishedPlugin(dist_name, version, spec, logic)
    except (zipfile.BadZipFile, UnicodeDecodeError, ValidationError, KeyError, OSError):
        return None
    return None
