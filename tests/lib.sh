# Shared by the benchmark scripts (sourced, not run): the checks and the
# build each of them starts with.

# bench_setup SCRIPT [COMMAND PACKAGE]...: runs from the repository root,
# insists on root, installs PACKAGE from Debian when COMMAND (a name on PATH
# or a file path) is missing, builds podnet-node's release binaries and sets
# $bin to their directory.
bench_setup() {
    local script=$1
    shift
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    export PATH="$HOME/.cargo/bin:$PATH"
    [ "$(id -u)" = 0 ] || { echo "$script: run as root (it creates network namespaces)" >&2; exit 1; }
    while [ $# -ge 2 ]; do
        if ! command -v "$1" >/dev/null && [ ! -x "$1" ]; then
            echo "==> apt-get install $2"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
        fi
        shift 2
    done
    echo "==> cargo build --release podnet, podnet-agent, podnet-cni"
    cargo build --release --quiet -p podnet-node --bins
    bin=$PWD/target/release
}
