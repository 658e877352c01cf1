#!/usr/bin/env bash
# The demo: run the example plan (a community solar microgrid). The built-in stages complete;
# the plan then meets capabilities no installed plugin provides and, in the default `suggest`
# mode, writes a plugin spec for each and stops with the command that continues.
set -u
cd "$(dirname "$0")/.."
run_dir=run/demo-solar-microgrid
rm -rf "$run_dir"
.venv/bin/plugin-hub run examples/plans/solar_microgrid/plan.yaml --run-dir "$run_dir"
code=$?
if [ "$code" -ne 3 ]; then
    echo "demo: expected the run to stop at a missing capability (exit 3), got exit $code" >&2
    exit 1
fi
echo
echo "Outputs of the completed stages and the drafted plugin specs:"
ls -1 "$run_dir"
echo
echo "First drafted spec ($(ls "$run_dir"/*.plugin-spec.json | head -n 1)):"
head -n 25 "$(ls "$run_dir"/*.plugin-spec.json | head -n 1)"
echo "..."
