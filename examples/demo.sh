#!/usr/bin/env bash
# The demo: the example plan (a community solar microgrid) meets missing capabilities and
# recovers from them, through the three rollout phases, with the project installed as users
# install it: its wheel, built here, in virtualenvs of their own (the synthesizer's, the
# hub's, and a worker-only one), nothing shared with the development environment.
#   1. suggest (phase 1): the built-in stages complete; each stage whose capability is missing
#      gets a plugin spec next to its output, and the run stops (exit 3).
#   2. dry-run (phase 2), same run directory: the run resumes, synthesizes each missing plugin
#      offline from its spec, verifies it (static analysis, dependency audit, contract tests
#      in the sandbox), installs it for this run only, and finishes the report.
#   3. publish (phase 3): a hub starts from its own install (private package index + metadata
#      API on loopback) and exports its client files. A run reaching it only through them
#      synthesizes the plugins, and the hub rebuilds, signs and publishes them.
#   4. A run in a fresh worker-only install synthesizes nothing: every plugin comes from the
#      hub, verified (signed metadata, sha256 and signature) and installed.
set -u
cd "$(dirname "$0")/.."
plan=examples/plans/solar_microgrid/plan.yaml
demo=${DEMO_DIR:-$PWD/run/demo}            # where everything goes (the test suite sets it)
python=${DEMO_PYTHON:-.venv/bin/python}     # the development environment: it builds the wheel
rm -rf "$demo"
mkdir -p "$demo"
hub_pid=
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

fail() { echo "demo: $*" >&2; exit 1; }

echo "== 0. the project's wheel, and three installs of it"
"$python" -m build --wheel --no-isolation --outdir "$demo/dist" . >/dev/null \
    || fail "building the wheel failed"
wheel=$(ls "$demo"/dist/planexe_plugin_hub-*.whl)
install() {  # install NAME EXTRA: a new virtualenv holding the wheel (with EXTRA) and its needs
    "$python" -m venv "$demo/$1" || fail "cannot create $demo/$1"
    "$python" -m uv pip install --quiet --python "$demo/$1/bin/python" "$wheel$2" \
        || fail "installing $wheel$2 into $demo/$1 failed"
    echo "  $demo/$1: planexe-plugin-hub$2"
}
install venv-synth "[synth]"
install venv-hub "[hub]"
install venv-worker ""
synth=$demo/venv-synth/bin/plugin-hub
hub=$demo/venv-hub/bin/plugin-hub
worker=$demo/venv-worker/bin/plugin-hub
echo

echo "== 1. suggest mode: stop at the missing capabilities with a plugin spec"
"$synth" run "$plan" --run-dir "$demo/run-1"
code=$?
[ "$code" -eq 3 ] || fail "expected the run to stop at a missing capability (exit 3), got $code"
echo
echo "Drafted specs:"
ls -1 "$demo"/run-1/*.plugin-spec.json
echo
echo "== 2. dry-run mode: synthesize, verify and use the missing plugins, then finish"
"$synth" run "$plan" --run-dir "$demo/run-1" --synthesis dry-run || fail "dry-run failed"
echo
echo "Test reports:"
ls -1 "$demo"/run-1/.synth/*/dist/*.report.json
echo
echo "The report ($demo/run-1/007-report.md), risk and energy sections:"
sed -n '/^## Energy yield/,$p' "$demo/run-1/007-report.md"

echo
echo "== 3. publish mode: a hub from its own install; a run reaching it through its client files"
"$hub" init "$demo/hub" || fail "hub init failed"
"$hub" serve "$demo/hub" --index-port 0 --api-port 0 > "$demo/hub.log" 2>&1 &
hub_pid=$!
# up to a minute on a busy machine, and no longer than the hub lives
for _ in $(seq 1 600); do
    [ -f "$demo/hub/serve.json" ] && break
    kill -0 "$hub_pid" 2>/dev/null || break
    sleep 0.1
done
[ -f "$demo/hub/serve.json" ] || fail "the hub did not start (see $demo/hub.log)"
cat "$demo/hub.log"
"$hub" export-client "$demo/hub" "$demo/client" --with-token > "$demo/client.env" \
    || fail "export-client failed"
cat "$demo/client.env"
# shellcheck disable=SC1091
. "$demo/client.env"
"$synth" run "$plan" --run-dir "$demo/run-2" --synthesis publish | tee "$demo/run-2.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the publish run failed"
echo
echo "Published on the hub:"
"$worker" search energy.solar_yield
"$worker" search risk.score_matrix

echo
echo "== 4. the same plan in a fresh worker-only install: reuse from the hub, zero syntheses"
"$worker" run "$plan" --run-dir "$demo/run-3" --synthesis publish | tee "$demo/run-3.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the reuse run failed"
syntheses=$(grep -c "synthesized '" "$demo/run-3.log")
reused=$(grep -c "reused '" "$demo/run-3.log")
echo
echo "Second run: $syntheses syntheses, $reused plugins reused from the hub."
echo "Installed in $demo/venv-worker:"
"$demo/venv-worker/bin/python" -m pip list --format freeze 2>/dev/null | grep -i "planexe" \
    | sed 's/^/   /'
[ "$syntheses" -eq 0 ] || fail "expected zero syntheses in the second run"
cmp -s "$demo/run-2/007-report.md" "$demo/run-3/007-report.md" || fail "the two reports differ"
echo "Both publish-mode runs wrote the same report."
