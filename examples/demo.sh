#!/usr/bin/env bash
# The demo: the example plan (a community solar microgrid) meets missing capabilities and
# recovers from them.
#   1. suggest mode (phase 1): the built-in stages complete; each stage whose capability is
#      missing gets a plugin spec next to its output, and the run stops (exit 3).
#   2. dry-run mode (phase 2), same run directory: the run resumes, synthesizes each missing
#      plugin offline from its spec, verifies it (static analysis, dependency audit, contract
#      tests in the sandbox), installs it for this run only, and finishes the report.
set -u
cd "$(dirname "$0")/.."
plan=examples/plans/solar_microgrid/plan.yaml
run_dir=run/demo-solar-microgrid
rm -rf "$run_dir"

echo "== 1. suggest mode: stop at the missing capabilities with a plugin spec"
.venv/bin/plugin-hub run "$plan" --run-dir "$run_dir"
code=$?
if [ "$code" -ne 3 ]; then
    echo "demo: expected the run to stop at a missing capability (exit 3), got exit $code" >&2
    exit 1
fi
echo
echo "Drafted specs:"
ls -1 "$run_dir"/*.plugin-spec.json
echo
echo "== 2. dry-run mode: synthesize, verify and use the missing plugins, then finish"
.venv/bin/plugin-hub run "$plan" --run-dir "$run_dir" --synthesis dry-run || exit 1
echo
echo "Test reports:"
ls -1 "$run_dir"/.synth/*/dist/*.report.json
echo
echo "The report ($run_dir/007-report.md), risk and energy sections:"
sed -n '/^## Energy yield/,$p' "$run_dir/007-report.md"
