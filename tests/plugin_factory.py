"""Build real third-party plugins for tests: installed folders and wheels.

``install_plugin`` writes the layout ``pip install --target`` produces (package plus a
``.dist-info`` with METADATA and entry_points.txt) into a folder that tests put on the path.
``build_plugin_wheel`` writes a hatchling project and builds a real wheel with pypa/build.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPEN_SCHEMA: dict[str, Any] = {"type": "object"}


@dataclass
class PluginSource:
    """A plugin: distribution ``dist`` with one module providing ``capabilities``.

    ``capabilities`` maps a capability to a Python expression over ``inputs`` that computes
    its output. ``import_side_effect`` is code run when the module is imported.
    """

    dist: str
    module: str
    capabilities: dict[str, str]
    version: str = "1.0.0"
    output_schema: dict[str, Any] = field(default_factory=lambda: dict(OPEN_SCHEMA))
    import_side_effect: str = ""

    def module_code(self) -> str:
        described = {
            cap: {
                "summary": f"test capability {cap}",
                "input_schema": OPEN_SCHEMA,
                "output_schema": self.output_schema,
            }
            for cap in self.capabilities
        }
        branches = "\n".join(
            f"    if capability == {cap!r}:\n        return {expr}"
            for cap, expr in self.capabilities.items()
        )
        return textwrap.dedent(
            """\
            import pluggy
            {side_effect}
            hookimpl = pluggy.HookimplMarker("planexe")
            DESCRIBED = {described!r}

            @hookimpl
            def planexe_describe(capability):
                return DESCRIBED.get(capability)

            @hookimpl
            def planexe_run(capability, inputs, context):
            {branches}
                return None
            """
        ).format(side_effect=self.import_side_effect, described=described, branches=branches)

    def entry_points_txt(self) -> str:
        lines = ["[planexe.plugins]"]
        lines += [f"{cap} = {self.module}" for cap in self.capabilities]
        return "\n".join(lines) + "\n"


def install_plugin(site_dir: Path, plugin: PluginSource) -> None:
    """Install ``plugin`` into ``site_dir`` in the layout pip uses."""
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / f"{plugin.module}.py").write_text(plugin.module_code())
    norm = plugin.dist.replace("-", "_")
    info = site_dir / f"{norm}-{plugin.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {plugin.dist}\nVersion: {plugin.version}\n"
        "Requires-Dist: pluggy>=1.5\n"
    )
    (info / "entry_points.txt").write_text(plugin.entry_points_txt())
    files = [f"{plugin.module}.py", *(f"{info.name}/{n}" for n in ("METADATA", "RECORD"))]
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in files))


def build_plugin_wheel(project_dir: Path, plugin: PluginSource, out_dir: Path) -> Path:
    """Write a hatchling project for ``plugin`` and build its wheel with ``python -m build``."""
    pkg = project_dir / plugin.module
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(plugin.module_code())
    eps = "\n".join(f'"{cap}" = "{plugin.module}"' for cap in plugin.capabilities)
    (project_dir / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{plugin.dist}"
            version = "{plugin.version}"
            dependencies = ["pluggy>=1.5"]

            [project.entry-points."planexe.plugins"]
            """
        )
        + eps
        + "\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out_dir),
            str(project_dir),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out_dir.glob(f"{plugin.dist.replace('-', '_')}-{plugin.version}-*.whl")
    return wheel
