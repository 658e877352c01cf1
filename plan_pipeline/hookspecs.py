"""The plugin contract: the single place that says what a PlanExe plugin is.

A plugin is an importable module (or object) with pluggy hook implementations, published in
a wheel with one entry point per capability in the ``planexe.plugins`` group::

    [project.entry-points."planexe.plugins"]
    "risk.score_matrix" = "planexe_gen_risk_score_matrix.plugin"

The entry-point *name* is the capability, so the pipeline sees every installed capability from
package metadata alone and imports a plugin only when a stage needs it.

A plugin depends on nothing but ``pluggy``. It makes its own marker with the project name
``planexe`` and exchanges only plain JSON-compatible values with the pipeline::

    import pluggy
    hookimpl = pluggy.HookimplMarker("planexe")

    @hookimpl
    def planexe_describe(capability):
        if capability == "risk.score_matrix":
            return {"summary": "...", "input_schema": {...}, "output_schema": {...}}
        return None

    @hookimpl
    def planexe_run(capability, inputs, context):
        if capability != "risk.score_matrix":
            return None
        return {...}

The pipeline calls only the plugin it chose for a capability, so returning ``None`` for other
capabilities matters only for modules that provide several.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "planexe"
"""The pluggy project name: plugins mark their hooks with ``HookimplMarker("planexe")``."""

ENTRY_POINT_GROUP = "planexe.plugins"
"""The entry-point group that lists installed capabilities (name = capability)."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def planexe_describe(capability: str) -> dict[str, Any] | None:
    """Describe ``capability`` if this plugin provides it, else return ``None``.

    The description is a mapping with these keys:

    - ``summary`` (str): one line saying what the capability does.
    - ``input_schema`` (dict): JSON Schema of the ``inputs`` mapping ``planexe_run`` accepts.
    - ``output_schema`` (dict): JSON Schema of the mapping ``planexe_run`` returns.

    The pipeline validates every stage's inputs and outputs against these schemas (and
    against the stage's own contract, if the plan gives one).
    """


@hookspec(firstresult=True)
def planexe_run(
    capability: str, inputs: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any] | None:
    """Run ``capability`` on ``inputs`` and return its output mapping.

    ``inputs`` maps each input name the stage declares to its value: an upstream stage's
    output (or the part of it the plan selects), a file's parsed content, or a literal.
    ``context`` carries ``run_id``, ``stage`` and ``capability`` for logging; a plugin must not
    rely on anything else, and must not read or write files, open sockets or start processes
    unless its spec grants that permission.

    Return ``None`` only for a capability this plugin does not provide. Raise an exception to
    report that the inputs cannot be processed; its message is shown to the user.
    """
