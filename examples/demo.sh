#!/usr/bin/env bash
# The demo: the example plan (a community solar microgrid) meets missing capabilities and
# recovers from them, through the three rollout phases.
#   1. suggest (phase 1): the built-in stages complete; each stage whose capability is missing
#      gets a plugin spec next to its output, and the run stops (exit 3).
#   2. dry-run (phase 2), same run directory: the run resumes, synthesizes each missing plugin
#      offline from its spec, verifies it (static analysis, dependency audit, contract tests
#      in the sandbox), installs it for this run only, and finishes the report.
#   3. publish (phase 3): an embedded hub starts (private package index + metadata API on
#      loopback). A run in a fresh virtualenv synthesizes the plugins, signs and publishes them,
#      and uses them. A second run in another fresh virtualenv synthesizes nothing: every plugin
#      comes from the hub, verified (sha256 and signature) and installed with uv.
set -u
cd "$(dirname "$0")/.."
root=$PWD
plan=examples/plans/solar_microgrid/plan.yaml
demo=run/demo
rm -rf "$demo"
mkdir -p "$demo"
hub_pid=
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

fail() { echo "demo: $*" >&2; exit 1; }

echo "== 1. suggest mode: stop at the missing capabilities with a plugin spec"
.venv/bin/plugin-hub run "$plan" --run-dir "$demo/run-1"
code=$?
[ "$code" -eq 3 ] || fail "expected the run to stop at a missing capability (exit 3), got $code"
echo
echo "Drafted specs:"
ls -1 "$demo"/run-1/*.plugin-spec.json
echo
echo "== 2. dry-run mode: synthesize, verify and use the missing plugins, then finish"
.venv/bin/plugin-hub run "$plan" --run-dir "$demo/run-1" --synthesis dry-run || fail "dry-run failed"
echo
echo "Test reports:"
ls -1 "$demo"/run-1/.synth/*/dist/*.report.json
echo
echo "The report ($demo/run-1/007-report.md), risk and energy sections:"
sed -n '/^## Energy yield/,$p' "$demo/run-1/007-report.md"

echo
echo "== 3. publish mode: an embedded hub, a run in a fresh virtualenv publishes the plugins"
.venv/bin/plugin-hub init "$demo/hub" || fail "hub init failed"
.venv/bin/plugin-hub serve "$demo/hub" --index-port 0 --api-port 0 > "$demo/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 100); do [ -f "$demo/hub/serve.json" ] && break; sleep 0.1; done
[ -f "$demo/hub/serve.json" ] || fail "the hub did not start (see $demo/hub.log)"
cat "$demo/hub.log"
export PLANEXE_HUB_HOME="$root/$demo/hub"

site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
fresh_venv() {  # a new virtualenv that sees the project's packages but installs into its own
    python3 -m venv --without-pip "$1" || fail "cannot create $1"
    own=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "import site; site.addsitedir('$site')" > "$own/_planexe_project.pth"
}
fresh_venv "$demo/venv-a"
"$demo/venv-a/bin/python" -m plan_pipeline.cli run "$plan" --run-dir "$demo/run-2" \
    --synthesis publish | tee "$demo/run-2.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the publish run failed"
echo
echo "Published on the hub:"
.venv/bin/plugin-hub search energy.solar_yield
.venv/bin/plugin-hub search risk.score_matrix

echo
echo "== 4. the same plan in another fresh virtualenv: reuse from the hub, zero syntheses"
fresh_venv "$demo/venv-b"
"$demo/venv-b/bin/python" -m plan_pipeline.cli run "$plan" --run-dir "$demo/run-3" \
    --synthesis publish | tee "$demo/run-3.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the reuse run failed"
syntheses=$(grep -c "synthesized '" "$demo/run-3.log")
reused=$(grep -c "reused '" "$demo/run-3.log")
echo
echo "Second run: $syntheses syntheses, $reused plugins reused from the hub."
echo "Installed in $demo/venv-b:"
"$demo/venv-b/bin/python" -c 'import importlib.metadata as m
for d in sorted(m.distributions(path=[p for p in __import__("sys").path if "venv-b" in p]), key=lambda d: d.name):
    print("  ", d.name, d.version)'
[ "$syntheses" -eq 0 ] || fail "expected zero syntheses in the second run"
cmp -s "$demo/run-2/007-report.md" "$demo/run-3/007-report.md" || fail "the two reports differ"
echo "Both publish-mode runs wrote the same report."
