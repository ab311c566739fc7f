#!/usr/bin/env bash
# The one command that checks this workspace: installs the test servers if they are missing,
# then runs rustfmt, clippy and every test against real Redis and MongoDB-wire servers, and
# fuzzes the REST API against its OpenAPI document (scripts/api-fuzz.sh).
#
#   bash scripts/test.sh                  # everything
#   bash scripts/test.sh -p mq-repo       # extra arguments go to the test runner
#
# Servers come from mq-testkit (crates/mq-testkit): MQTEST_REDIS_URL / MQTEST_MONGO_URI name
# shared servers (e.g. those of docker/docker-compose.yml); otherwise each test spawns its own
# redis-server and SecantusDB (secantusd-py), which this script installs:
#   - redis-server through apt-get, when it is not on PATH (as root, or with sudo);
#   - SecantusDB into .tools/venv through pip, when that venv lacks the pinned version.
# Tests that stop their server always spawn their own, so both are installed even when
# MQTEST_REDIS_URL / MQTEST_MONGO_URI are set. One Redis Cluster (3 masters, 3 replicas, from
# the same redis-server binary) is started here by the mq-test-cluster bin and shared by every
# cluster test through MQTEST_REDIS_CLUSTER_URL; the fault tests (e2e faults::, which kill
# masters, reshard and fail Sentinel groups over) start their own and run one at a time after
# the rest. Docker is not probed unless MQTEST_USE_DOCKER=1
# (then testcontainers runs redis:7 and mongo:7 where a Docker engine answers).
#
# Every step runs even if an earlier one failed, so one run shows all problems; the exit code
# is non-zero if any step failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The SecantusDB release the suite was last checked against (PyPI has only pre-releases, which
# an exact pin selects without --pre). Override to try another.
secantusdb_spec="${MQTEST_SECANTUSDB_SPEC:-SecantusDB==0.7.0b3}"

if [ -z "${CARGO_TERM_COLOR:-}" ]; then
    if [ -t 1 ]; then export CARGO_TERM_COLOR=auto; else export CARGO_TERM_COLOR=never; fi
fi
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# CI builds a fresh clone once: incremental compilation's caches would only cost time there.
if [ -n "${CI:-}" ]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

# The long-poll flood test (e2e faults::a_flood_of_long_polls_*) holds a thousand connections
# open in the test and as many in the server: raise the soft limit on open files as far as the
# hard limit allows.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 16384 ]; then
    hard="$(ulimit -Hn)"
    if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
    ulimit -n "$hard" 2>/dev/null || true
fi

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: '$*' needs root, and sudo is not available" >&2
        return 1
    fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_redis() {
    if [ -n "${MQTEST_REDIS_SERVER:-}" ] || command -v redis-server >/dev/null 2>&1; then
        return
    fi
    step "installing redis-server (apt-get)"
    # The package may also start a system instance on 6379; tests use their own ports anyway.
    apt_install redis-server
    if ! command -v redis-server >/dev/null; then
        echo "error: redis-server is still not on PATH after apt-get install" >&2
        return 1
    fi
}

ensure_secantus() {
    local venv="$root/.tools/venv"
    local stamp="$venv/.secantusdb-spec"
    if [ ! -x "$venv/bin/secantusd-py" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$secantusdb_spec" ]; then
        step "installing $secantusdb_spec into .tools/venv (pip)"
        local python="${PYTHON:-python3}"
        # A half-made venv from an interrupted run is rebuilt rather than trusted.
        rm -rf "$venv"
        if ! "$python" -m venv "$venv"; then
            # Debian's own python3 keeps venv support in a separate package.
            rm -rf "$venv"
            apt_install python3-venv
            "$python" -m venv "$venv"
        fi
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$secantusdb_spec"
        printf '%s\n' "$secantusdb_spec" >"$stamp"
    fi
    export MQTEST_SECANTUSD="$venv/bin/secantusd-py"
}

ensure_redis
if [ -z "${MQTEST_SECANTUSD:-}" ]; then
    ensure_secantus
fi
if [ "${MQTEST_USE_DOCKER:-0}" != "1" ]; then
    export MQTEST_NO_DOCKER=1
fi

echo "redis-server: ${MQTEST_REDIS_SERVER:-$(command -v redis-server)}"
echo "secantusd-py: $MQTEST_SECANTUSD"
echo "shared servers: MQTEST_REDIS_URL=${MQTEST_REDIS_URL:-(unset)}" \
    "MQTEST_MONGO_URI=${MQTEST_MONGO_URI:-(unset)}; docker: ${MQTEST_NO_DOCKER:+not }probed"

# One Redis Cluster (3 masters, a replica each) for the whole run, shared by every test that
# runs against a cluster (each with its own key prefix); tests that take a cluster apart spawn
# their own. Started by mq-testkit's mq-test-cluster, killed when this script exits.
start_shared_cluster() {
    if [ -n "${MQTEST_REDIS_CLUSTER_URL:-}" ]; then
        return
    fi
    step "starting a shared Redis Cluster (mq-test-cluster)"
    local url_file
    url_file="$(mktemp)"
    "$root/target/debug/mq-test-cluster" >"$url_file" &
    cluster_pid=$!
    trap 'kill "$cluster_pid" 2>/dev/null; wait "$cluster_pid" 2>/dev/null' EXIT
    for _ in $(seq 1 600); do
        if [ -s "$url_file" ]; then
            break
        fi
        if ! kill -0 "$cluster_pid" 2>/dev/null; then
            echo "error: mq-test-cluster exited before the cluster was up" >&2
            return 1
        fi
        sleep 0.1
    done
    MQTEST_REDIS_CLUSTER_URL="$(head -n 1 "$url_file")"
    rm -f "$url_file"
    if [ -z "$MQTEST_REDIS_CLUSTER_URL" ]; then
        echo "error: mq-test-cluster printed no URL within 60 s" >&2
        return 1
    fi
    export MQTEST_REDIS_CLUSTER_URL
    echo "shared cluster: $MQTEST_REDIS_CLUSTER_URL"
}

failed=()
run() {
    step "$*"
    local started=$SECONDS
    if ! "$@"; then
        failed+=("$*")
    fi
    printf '<== %s: %ds\n' "$1${2:+ $2}" $((SECONDS - started))
}

# rustfmt colours its diff unless told, also into CI logs.
run cargo fmt --all --check -- --color "$CARGO_TERM_COLOR"
run cargo clippy --workspace --all-targets -- -D warnings
# The whole workspace, unless the arguments pick packages themselves (`-p mq-repo`), which
# `--workspace` would override.
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
        -p | -p* | --package | --package=*) scope=() ;;
    esac
done
# Every target in one build: tests, the binaries the end-to-end tests and scripts start
# (mq-server, mq-bench, mq-test-cluster) and the examples. Built package by package instead
# (`cargo build -p mq-server`), cargo would resolve dependency features per package and compile
# many dependencies again for each, which once cost CI several minutes.
run cargo build --workspace --all-targets
# The server every test and script starts (MQTEST_, not MQ_: mq-server reads MQ_* variables
# as its own config).
export MQTEST_SERVER_BIN="$root/target/debug/mq-server"
run start_shared_cluster
# The fault scenarios (e2e faults::*: a cluster master killed, resharding, a Sentinel failover)
# take their stores apart under load and time the recovery; they run afterwards, one at a time,
# so that the rest of the suite does not load the machine under them. They select the e2e
# binary by filter over the whole workspace, not with `-p mq-tests`, which would resolve
# dependency features anew and compile many dependencies again.
faults='binary(e2e) & test(/^faults::/)'
if cargo nextest --version >/dev/null 2>&1; then
    run cargo nextest run "${scope[@]}" --no-fail-fast -E "not ($faults)" "$@"
    if [ "${#scope[@]}" -gt 0 ]; then
        run cargo nextest run --workspace --no-fail-fast -j 1 -E "$faults"
    fi
else
    run cargo test "${scope[@]}" --no-fail-fast "$@" -- --skip faults::
    if [ "${#scope[@]}" -gt 0 ]; then
        run cargo test --workspace --test e2e --no-fail-fast -- --test-threads 1 faults::
    fi
fi
# nextest does not run doctests.
run cargo test --workspace --doc
# The payment example checks its own outcome (message and local state agree after a crash at
# each step) and exits non-zero otherwise.
run "$root/target/debug/examples/payment"
# The OpenAPI document validates, and schemathesis finds no 5xx and no answer that breaks it,
# on both backends (installs its pinned tools into .tools/apitest).
run bash scripts/api-fuzz.sh
# The web console in headless Chromium (playwright-core): sign-in, topics, a dead letter retried
# and a scheduled message cancelled from the console, on both backends; installs chromium and
# the pinned playwright-core; screenshots land in target/console-e2e/.
run bash scripts/console-e2e.sh

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\nFAILED:\n' >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
printf '\nall checks passed\n'
