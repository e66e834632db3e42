#!/usr/bin/env bash
# README command 2: install what the tests need, then run every test.
# .ci/run calls exactly this. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
export TMPDIR=${TMPDIR:-/tmp}
mkdir -p "$TMPDIR"

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

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

step "tier 2, as root: the CNI plugin, labs and the live server in real network namespaces"
# The labs start podnet-agent and podnet-cni from beside podnet.
cargo build --workspace --bins --locked
cargo test --locked -p podnet-tests --test netns

step "tier 3, as root: the agent's API mode and a whole Kubernetes cluster on podnet"
cargo test --locked -p podnet-tests --test kubernetes

# wasm-pack test: the installed wasm-bindgen-test-runner and Debian's chromedriver.
wasm_test() { wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver "$@"; }

step "core builds for wasm32 and passes its scenario tests in headless Chromium"
cargo build -p podnet-core --target wasm32-unknown-unknown --locked
wasm_test core --test scenarios --test live --test faults --locked

step "web components in headless Chromium (wasm-pack test)"
wasm_test web --test components --test live_scene --locked

step "build the explainer with trunk, then click through it (playwright-core + Chromium)"
TRUNK_SKIP_VERSION_CHECK=true trunk build
(cd tests/e2e && node --test explainer.test.mjs learner.test.mjs challenges.test.mjs split.test.mjs live.test.mjs overlay_live.test.mjs kube_live.test.mjs)

step "all tests passed in $(( $(date +%s) - start )) s"
