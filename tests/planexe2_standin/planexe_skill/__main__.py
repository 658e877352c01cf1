"""``python -m planexe_skill create|run|status RUN_DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path

from planexe_skill import SKILLS_ROOT
from planexe_skill.runner import DagError, Runner, StageFailure
from planexe_skill.skill import load_skills


def main() -> int:
    parser = argparse.ArgumentParser(prog="planexe_skill")
    parser.add_argument("--skills", type=Path, default=SKILLS_ROOT)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create")
    create.add_argument("run_dir", type=Path)
    create.add_argument("--prompt", required=True)
    run = commands.add_parser("run")
    run.add_argument("run_dir", type=Path)
    run.add_argument("--only", nargs="+")
    run.add_argument("--backend", default="fake", choices=["fake"])
    status = commands.add_parser("status")
    status.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    run_dir = args.run_dir.resolve()
    if args.command == "create":
        run_dir.mkdir(parents=True, exist_ok=True)
        plan = {"plan_prompt": args.prompt, "pretty_date": date.today().strftime("%Y-%b-%d")}
        (run_dir / "plan_raw.json").write_text(json.dumps(plan, indent=2))
        (run_dir / "start_time.json").write_text(
            json.dumps({"server_iso_utc": datetime.now().isoformat()})
        )
        return 0
    if not run_dir.is_dir():
        print(f"error: run directory {run_dir} does not exist", file=sys.stderr)
        return 2
    runner = Runner(run_dir, load_skills(args.skills))
    if args.command == "status":
        for name, skill in runner.skills.items():
            dirty, why = runner.manifest.status(skill, run_dir)
            print(f"{'*' if dirty else ' '} {name:<48} {'; '.join(why)}")
        return 0
    try:
        return runner.run(args.only)
    except (StageFailure, DagError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
