#!/usr/bin/env bash
# README command 2: install what the tests need, then run every test.
# .ci/run calls exactly this. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
export TMPDIR=${TMPDIR:-/tmp}
mkdir -p "$TMPDIR"

# Each step says how long the one before it took, so a log shows where the
# time goes (docs/contributing.md keeps the figures).
start=$(date +%s)
last=$start
step() {
    local now; now=$(date +%s)
    [ "$now" = "$start" ] || printf '    (%d s)\n' $((now - last))
    last=$now
    printf '\n==> %s\n' "$*"
}

step "install (skips what is there)"
bash scripts/install.sh all

step "fetch crates (trunk builds offline)"
cargo fetch --locked

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The browser tests compile only for wasm32, so lint that target too.
cargo clippy -p podnet-web --target wasm32-unknown-unknown --all-targets --locked -- -D warnings

step "tier 1, unprivileged: unit, scenarios, properties, the CLI (cargo test)"
cargo test --locked

# wasm-pack test: the installed wasm-bindgen-test-runner and Debian's
# chromedriver. Chromium is stopped, not closed, when a test binary ends,
# and leaves org.chromium.Chromium.* behind in its TMPDIR: one of its own,
# removed after each run, pass or fail.
wasm_test() {
    local tmp rc=0
    tmp=$(mktemp -d "$TMPDIR/podnet-wasm-test.XXXXXX")
    TMPDIR=$tmp wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver "$@" || rc=$?
    rm -rf "$tmp"
    return "$rc"
}
e2e() { (cd tests/e2e && node --test "$@"); }

step "browser tier: core's scenarios and the web components in headless Chromium (wasm-pack test)"
cargo build -p podnet-core --target wasm32-unknown-unknown --locked
wasm_test core --test scenarios --test live --test faults --locked
wasm_test web --test components --test live_scene --locked

step "browser tier: build the explainer with trunk, then click through it (playwright-core + Chromium)"
TRUNK_SKIP_VERSION_CHECK=true trunk build
e2e explainer.test.mjs learner.test.mjs challenges.test.mjs split.test.mjs a11y.test.mjs
# The explainer's figures against their targets (printed, not asserted:
# timings of a shared machine; the size budget is a test in split.test.mjs).
(cd tests/e2e && node figures.mjs)

step "tier 2, as root: the CNI plugin, labs and the live server in real network namespaces"
# The labs start podnet-agent and podnet-cni from beside podnet.
cargo build --workspace --bins --locked
cargo test --locked -p podnet-tests --test netns
e2e live.test.mjs overlay_live.test.mjs

step "tier 3, as root: the agent's API mode and a whole Kubernetes cluster on podnet"
cargo test --locked -p podnet-tests --test kubernetes
e2e kube_live.test.mjs

step "tier 4, as root: Kubernetes' own network conformance tests (e2e.test 1.20) on a podnet lab"
bash tests/conformance.sh

step "all tests passed in $(( $(date +%s) - start )) s"
