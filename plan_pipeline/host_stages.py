"""What the stages both PlanExe hosts back with a capability share: the synthesis mode from
the environment, contract files, and a stage's declaration errors.

PlanExe's Luigi tasks (``planexe.py``) and PlanExe2's skills (``planexe2.py``) read them the
same way, so a user switching hosts sets the same variables and writes the same contracts.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from plan_pipeline.contract import Contract
from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.synthesis import SynthesisMode

SYNTHESIS_ENV = "PLANEXE_SYNTHESIS"
"""The synthesis mode of capability-backed stages: off, suggest (default), dry-run, publish."""


class CapabilityTaskError(PlanPipelineError):
    """A capability-backed stage is declared wrongly (capability, version, contract, inputs)."""


def synthesis_mode(environ: dict[str, str] | None = None) -> SynthesisMode:
    """The mode named by ``PLANEXE_SYNTHESIS``; ``suggest`` when it is unset."""
    text = (os.environ if environ is None else environ).get(SYNTHESIS_ENV) or "suggest"
    try:
        return SynthesisMode(text)
    except ValueError:
        modes = ", ".join(m.value for m in SynthesisMode)
        raise CapabilityTaskError(
            f"{SYNTHESIS_ENV}={text!r} is not a synthesis mode", f"Use one of: {modes}"
        ) from None


def load_contract(path: str | Path) -> Contract:
    """A stage contract from a YAML or JSON file; every problem is one ``CapabilityTaskError``."""
    import yaml  # a base dependency, imported when a contract file is read

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Contract.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise CapabilityTaskError(
            f"cannot read contract file {path}: {exc}", "Check the path and the YAML"
        ) from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise CapabilityTaskError(
            f"contract file {path}: {where}: {first['msg'].removeprefix('Value error, ')}",
            "Fix the contract; see examples/planexe/contracts/",
        ) from None
