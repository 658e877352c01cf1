"""Render a plugin project from ``plugin_template`` with cookiecutter.

The synthesizer renders through cookiecutter's own API, so a generated plugin is exactly what a
maintainer gets from ``cookiecutter plugin_template``; only the private variables (``_spec``,
``_logic``, ``_constraints``, ``_date_functions``, ``_dependencies``) differ. Hooks are
skipped here because the synthesizer has already validated every name.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.exceptions import CookiecutterException
from cookiecutter.main import cookiecutter
from jinja2 import TemplateError
from pydantic import ValidationError

from plan_pipeline.capability_names import generated_dist_name, package_slug
from plan_pipeline.expressions import (
    MAX_RANGE,
    calls_date_functions,
    date_functions_source,
    translate,
)
from plan_pipeline.published_wheel import GENERATED_MODULE_PREFIX
from plan_pipeline.spec import PluginSpec
from synthesizer.codegen import GeneratedLogic
from synthesizer.errors import BuildError


def template_dir() -> Path:
    """The ``plugin_template`` folder, installed next to this package or in the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "plugin_template", here.parent / "plugin_template"):
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise BuildError(
        "the plugin template is missing", "Reinstall planexe-plugin-hub (it ships plugin_template)"
    )


@dataclass(frozen=True)
class PluginNames:
    dist_name: str
    module_name: str

    @classmethod
    def for_capability(cls, capability: str) -> PluginNames:
        slug = package_slug(capability)
        return cls(generated_dist_name(capability), GENERATED_MODULE_PREFIX + slug)


def revalidated(spec: PluginSpec) -> PluginSpec:
    """``spec`` validated again: a copy made with ``model_copy(update=...)`` skips validation,
    and its fields end up in file names and template variables."""
    try:
        return PluginSpec.model_validate(spec.model_dump())
    except ValidationError as exc:
        first = str(exc).splitlines()
        raise BuildError(f"the plugin spec is invalid: {' '.join(first[:3])[:300]}") from None


def constraint_checks(spec: PluginSpec) -> str:
    """The spec's constraints as ``(text, lambda input, output: ...)`` lines for the tests."""
    lines = []
    for text in spec.constraints:
        python = translate(text, {"input", "output"})
        lines.append(f"    ({text!r}, lambda input, output: {python}),")
    return "\n".join(lines)


def constraint_date_functions(spec: PluginSpec) -> str:
    """The date functions' source for the project's own tests when a constraint calls one."""
    used = any(
        calls_date_functions(translate(text, {"input", "output"})) for text in spec.constraints
    )
    return f"\n\n{date_functions_source()}" if used else ""


def template_context(spec: PluginSpec, logic: GeneratedLogic) -> dict[str, object]:
    """The cookiecutter context that renders the plugin for ``spec`` with ``logic``.

    cookiecutter renders the values of public variables as Jinja templates: only validated
    names go there. Free text (summary, spec, code) travels in private variables, which it
    copies verbatim.
    """
    names = PluginNames.for_capability(spec.capability)
    return {
        "capability": spec.capability,
        "summary": "",
        "version": spec.version,
        "author": "planexe-plugin-hub synthesizer",
        "dist_name": names.dist_name,
        "module_name": names.module_name,
        "_generated": True,
        "_summary": spec.summary or spec.capability,
        "_spec_json": json.dumps(spec.model_dump(mode="json"), indent=2, sort_keys=True),
        "_logic": logic.source.rstrip("\n"),
        "_constraints": constraint_checks(spec),
        "_date_functions": constraint_date_functions(spec),
        "_max_range": str(MAX_RANGE),
        # a list would be a cookiecutter choice variable: pass ready TOML lines instead
        "_dependency_lines": "".join(f"\n    {json.dumps(d)}," for d in spec.dependencies),
    }


_RENDERING = threading.Lock()


def render_project(spec: PluginSpec, logic: GeneratedLogic, out_dir: Path) -> Path:
    """Render the plugin project for ``spec`` into ``out_dir``; return the project folder.

    cookiecutter changes the process's working directory while it renders, so renders take
    turns and ``out_dir`` is made absolute under the same lock: a hub rebuilding publishes in
    threads never writes into another render's folder."""
    spec = revalidated(spec)
    context = template_context(spec, logic)
    with _RENDERING:
        out_dir = out_dir.absolute()
        out_dir.mkdir(parents=True, exist_ok=True)
        config = out_dir / ".cookiecutter-config.yaml"
        config.write_text(
            f"replay_dir: {json.dumps(str(out_dir / '.replay'))}\n"
            f"cookiecutters_dir: {json.dumps(str(out_dir / '.cookiecutters'))}\n",
            encoding="utf-8",
        )
        try:
            project = cookiecutter(
                str(template_dir()),
                no_input=True,
                extra_context=context,
                output_dir=str(out_dir),
                config_file=str(config),
                overwrite_if_exists=True,
                accept_hooks=False,
            )
        except (CookiecutterException, TemplateError) as exc:
            raise BuildError(f"rendering the plugin template failed: {exc}") from exc
    return Path(project)
