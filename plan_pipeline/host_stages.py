"""What the stages both PlanExe hosts back with a capability share: the synthesis mode from
the environment, contract files, and a stage's declaration errors.

PlanExe's Luigi tasks (``planexe.py``) and PlanExe2's skills (``planexe2.py``) read them the
same way, so a user switching hosts sets the same variables and writes the same contracts.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from plan_pipeline.contract import CapabilityNeed, Contract
from plan_pipeline.errors import PlanPipelineError
from plan_pipeline.files import read_regular
from plan_pipeline.synthesis import SynthesisMode

SYNTHESIS_ENV = "PLANEXE_SYNTHESIS"
"""The synthesis mode of capability-backed stages: off, suggest (default), dry-run, publish."""
RUN_MODE_FILE = "synthesis_mode.txt"
"""A run directory's own synthesis mode, above the environment's: a host that starts every
run with the same environment (PlanExe's worker API) lets each run choose its mode."""


class CapabilityTaskError(PlanPipelineError):
    """A capability-backed stage is declared wrongly (capability, version, contract, inputs)."""


class HostStopRequested(BaseException):
    """The host asked the run to stop (its progress callback raised ``cause``) while a stage
    was resolving or synthesizing. A ``BaseException``, so that no ``except Exception`` on the
    way out swallows it and every ``finally`` runs."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


MAX_DESCRIPTION = 8000
"""The longest description a contract holds."""


def invalid(exc: ValidationError, prefix: str, fix: str, whole: str = "") -> CapabilityTaskError:
    """One line for the first problem pydantic found: ``prefix: where: what``."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or whole
    return CapabilityTaskError(
        f"{prefix}: {where}: {first['msg'].removeprefix('Value error, ')}", fix
    )


def stage_need(
    name: str,
    capability: str,
    version: str | None,
    contract: Contract | None,
    words: str,
    fix: str,
) -> CapabilityNeed:
    """A stage's need; a contract without a description takes ``words``, the stage's own
    (a task's docstring, a skill's SKILL.md), the first thing an LLM backend's prompt says."""
    if contract is not None and not contract.description.strip() and words.strip():
        contract = contract.model_copy(update={"description": words.strip()[:MAX_DESCRIPTION]})
    try:
        return CapabilityNeed(name=name, capability=capability, version=version, contract=contract)
    except ValidationError as exc:
        raise invalid(exc, name, fix) from None


def synthesis_mode(
    environ: dict[str, str] | None = None, run_dir: Path | None = None
) -> SynthesisMode:
    """The mode ``run_dir/synthesis_mode.txt`` names, else ``PLANEXE_SYNTHESIS``'s; ``suggest``
    when neither is set."""
    where, text = SYNTHESIS_ENV, (os.environ if environ is None else environ).get(SYNTHESIS_ENV)
    if run_dir is not None:
        found = _run_mode(run_dir / RUN_MODE_FILE)
        if found is not None:
            where, text = str(run_dir / RUN_MODE_FILE), found
    text = text or "suggest"
    try:
        return SynthesisMode(text)
    except ValueError:
        modes = ", ".join(m.value for m in SynthesisMode)
        raise CapabilityTaskError(
            f"{where}={text[:40]!r} is not a synthesis mode", f"Use one of: {modes}"
        ) from None


_MAX_MODE_BYTES = 64


def _run_mode(path: Path) -> str | None:
    """The text of a run's mode file; ``None`` when there is none. Only a regular file of this
    user's, opened without following a link and without waiting on a pipe, is read: the mode
    chooses whether a run spends model money and publishes with this user's hub token."""
    fix = f"Write the mode into {path} yourself, as a plain file, or remove it"
    try:
        data, status = read_regular(path, _MAX_MODE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CapabilityTaskError(f"cannot read {path}: {exc.strerror or exc}", fix) from None
    if status.st_uid != os.geteuid():
        raise CapabilityTaskError(f"{path} belongs to another user", fix)
    if len(data) > _MAX_MODE_BYTES:
        raise CapabilityTaskError(f"{path} is longer than a mode", fix)
    return data.decode("utf-8", "replace").strip()


def load_contract(path: str | Path) -> Contract:
    """A stage contract from a YAML or JSON file; every problem is one ``CapabilityTaskError``."""
    import yaml  # a base dependency, imported when a contract file is read

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Contract.model_validate(data)
    except RecursionError:
        raise CapabilityTaskError(
            f"contract file {path} is nested too deeply", "Flatten the contract"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CapabilityTaskError(
            f"cannot read contract file {path}: {exc}", "Check the path and the YAML"
        ) from None
    except ValidationError as exc:
        fix = "Fix the contract; see examples/planexe/contracts/"
        raise invalid(exc, f"contract file {path}", fix, "top level") from None
