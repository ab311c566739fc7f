#!/usr/bin/env bash
# End-to-end browser tests of the web console (issue 11): drives the console that mq-server
# embeds, in headless Chromium through playwright-core, on each backend:
#   1. installs what is missing: Debian's `chromium` (+ fonts-dejavu-core) through apt-get when
#      `chromium` is not on PATH, and the pinned playwright-core into tests/console/node_modules
#      (`npm ci` from the committed package-lock.json; skipped when that lock is installed);
#   2. builds the debug mq-server (the console's files are compiled into it) and starts it on a
#      free port with an admin token and no rate limit, on the embedded default and then on
#      Redis + a MongoDB-wire server (a redis-server and SecantusDB of its own);
#   3. runs tests/console/console.test.mjs with `node --test` against it: sign-in, topics,
#      a test message and its rates, a dead letter retried from the console, a scheduled
#      message cancelled, every page's heading, phone width and keyboard use; plus sign-in in
#      protected mode against a second, token-less server (embedded stores) beside it.
#
#   bash scripts/console-e2e.sh
#   MQTEST_CONSOLE_BACKENDS=memory bash scripts/console-e2e.sh   # one backend (memory | redis_mongo)
#   MQTEST_CHROMIUM=/path/to/chrome bash scripts/console-e2e.sh  # another browser binary
#
# The redis_mongo run needs redis-server on PATH and MQTEST_SECANTUSD naming secantusd-py
# (default: .tools/venv/bin/secantusd-py), which scripts/test.sh provides.
# Server logs, screenshots (1280x800, and 390x844 for the phone ones) and a JUnit report land
# in target/console-e2e/<backend>/. scripts/test.sh runs this script after api-fuzz.sh.
#
# The server serves the console files compiled into it. For a quick loop on the files
# themselves, MQTEST_CONSOLE_ASSETS_DIR=crates/mq-api/console makes it read them from disk
# instead (MQ_CONSOLE__ASSETS_DIR); CI never sets it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
suite="$root/tests/console"

say() { printf 'console-e2e: %s\n' "$*"; }
fail() { printf 'console-e2e: error: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        fail "'$*' needs root, and sudo is not available"
        return 1
    fi
}

apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- tools --------------------------------------------------------------------------------

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    fail "node (20 or later) and npm are needed on PATH"
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    fail "node $(node --version) is too old; the tests need node 20 or later"
    exit 1
fi

if [ -n "${MQTEST_CHROMIUM:-}" ]; then
    chromium_bin="$MQTEST_CHROMIUM"
else
    if ! command -v chromium >/dev/null 2>&1; then
        say "installing chromium and fonts-dejavu-core (apt-get)"
        apt_install chromium fonts-dejavu-core
    fi
    chromium_bin="$(command -v chromium || true)"
fi
if [ -z "$chromium_bin" ] || [ ! -x "$chromium_bin" ]; then
    fail "no Chromium binary at '${chromium_bin:-}' (set MQTEST_CHROMIUM, or install Debian's chromium)"
    exit 1
fi

# `npm ci` wipes and reinstalls node_modules; the stamp skips it while the lock is unchanged.
lock_sum="$(sha256sum "$suite/package-lock.json" | cut -d' ' -f1)"
stamp="$suite/node_modules/.console-e2e-lock"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    say "installing playwright-core (npm ci in tests/console)"
    if ! (cd "$suite" && npm ci --no-audit --no-fund --loglevel=error); then
        fail "npm ci in tests/console failed (the npm registry must be reachable)"
        exit 1
    fi
    printf '%s\n' "$lock_sum" >"$stamp"
fi

say "node $(node --version), $("$chromium_bin" --version 2>/dev/null | head -n1) ($chromium_bin)," \
    "playwright-core $(node -p 'require("./tests/console/node_modules/playwright-core/package.json").version')"

# --- server -------------------------------------------------------------------------------

target_dir="$(cargo metadata --format-version 1 --no-deps |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')"
# MQTEST_SERVER_BIN: a server built already (scripts/test.sh builds every target in one go).
server_bin="${MQTEST_SERVER_BIN:-}"
if [ -z "$server_bin" ]; then
    if ! cargo build --quiet -p mq-server; then
        fail "cargo build -p mq-server failed"
        exit 1
    fi
    server_bin="$target_dir/debug/mq-server"
fi
out="$target_dir/console-e2e"
mkdir -p "$out"

work="$(mktemp -d)"
pids=()
# Stops what this script started: the tests first, then the servers, then their stores.
cleanup() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" 2>/dev/null || true
    done
    pids=()
}
trap 'cleanup; rm -rf "$work"' EXIT
trap 'fail "interrupted"; exit 130' INT
trap 'fail "terminated"; exit 143' TERM

free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# wait_http URL WHAT PID [SECS]: waits until URL answers 2xx; fails when PID exits or after
# SECS (default 60) seconds.
wait_http() {
    node --input-type=module - "$1" "$2" "$3" "${4:-60}" <<'EOF_WAIT'
const [url, what, pid, secs] = process.argv.slice(2);
const deadline = Date.now() + Number(secs) * 1000;
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
for (;;) {
    let last;
    try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
        if (r.ok) break;
        last = `HTTP ${r.status}`;
    } catch (e) { last = e.cause?.code ?? e.message; }
    if (!alive()) { console.error(`console-e2e: ${what} exited before answering ${url}`); process.exit(1); }
    if (Date.now() > deadline) { console.error(`console-e2e: ${what} did not answer ${url} within ${secs} s (${last})`); process.exit(1); }
    await new Promise((r) => setTimeout(r, 200));
}
EOF_WAIT
}

# wait_tcp PORT WHAT PID: waits until a store just spawned listens.
wait_tcp() {
    node --input-type=module - "$1" "$2" "$3" <<'EOF_TCP'
import net from "node:net";
const [port, what, pid] = process.argv.slice(2);
const deadline = Date.now() + 60_000;
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
const attempt = () => {
    const s = net.connect(Number(port), "127.0.0.1");
    s.on("connect", () => { s.destroy(); process.exit(0); });
    s.on("error", (e) => {
        if (!alive()) { console.error(`console-e2e: ${what} exited before listening on ${port}`); process.exit(1); }
        if (Date.now() > deadline) { console.error(`console-e2e: ${what} did not listen on ${port} within 60 s: ${e.code}`); process.exit(1); }
        setTimeout(attempt, 200);
    });
};
attempt();
EOF_TCP
}

token="console-e2e-admin-token"
token_name="e2e-admin"

# run_backend BACKEND: one server on BACKEND, then the browser tests against it.
run_backend() {
    local backend="$1" dir="$work/$1" logs="$out/$1" port base
    rm -rf "$logs"
    mkdir -p "$dir" "$logs/screenshots"
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    cat >"$dir/server.yaml" <<EOF_SERVER
server:
  bind: 127.0.0.1:$port
log:
  level: info
auth:
  tokens:
    - {name: $token_name, token: $token, role: admin}
security:
  rate_limit:
    enabled: false
EOF_SERVER
    if [ "$backend" = redis_mongo ]; then
        local secantusd="${MQTEST_SECANTUSD:-$root/.tools/venv/bin/secantusd-py}"
        if ! command -v redis-server >/dev/null || [ ! -x "$secantusd" ]; then
            fail "the redis_mongo run needs redis-server on PATH and MQTEST_SECANTUSD naming" \
                "secantusd-py (bash scripts/test.sh installs both)"
            return 1
        fi
        local redis_port mongo_port
        redis_port="$(free_port)"
        mongo_port="$(free_port)"
        redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" >"$logs/redis.log" 2>&1 &
        pids+=($!)
        wait_tcp "$redis_port" redis-server "$!" || return 1
        mkdir -p "$dir/mongo"
        "$secantusd" --host 127.0.0.1 --port "$mongo_port" --storage-path "$dir/mongo" \
            >"$logs/secantusd.log" 2>&1 &
        pids+=($!)
        wait_tcp "$mongo_port" secantusd-py "$!" || return 1
        cat >>"$dir/server.yaml" <<EOF_STORES
message_queue:
  provider: redis_streams
  redis:
    host: 127.0.0.1
    port: $redis_port
metadata:
  provider: mongodb
mongodb:
  uri: mongodb://127.0.0.1:$mongo_port
  database: console_e2e
EOF_STORES
    fi

    local assets=(-u MQ_CONSOLE__ASSETS_DIR)
    if [ -n "${MQTEST_CONSOLE_ASSETS_DIR:-}" ]; then
        say "WARNING: serving the console from $MQTEST_CONSOLE_ASSETS_DIR, not the embedded files"
        assets=("MQ_CONSOLE__ASSETS_DIR=$(cd "$MQTEST_CONSOLE_ASSETS_DIR" && pwd)")
    fi
    env "${assets[@]}" "$server_bin" --config "$dir/server.yaml" >"$logs/server.log" 2>&1 &
    pids+=($!)
    local server_pid=$!
    wait_http "$base/healthz" mq-server "$server_pid" || {
        fail "[$backend] mq-server did not start; its log: $logs/server.log"
        tail -n 20 "$logs/server.log" >&2
        return 1
    }
    # Up, so the console answers at once unless this server lacks it.
    wait_http "$base/console/" "mq-server's /console/" "$server_pid" 5 || return 1

    # A second server without tokens: protected mode, which lets loopback in without one.
    local protected_port protected_pid
    protected_port="$(free_port)"
    cat >"$dir/protected.yaml" <<EOF_PROTECTED
server:
  bind: 127.0.0.1:$protected_port
log:
  level: info
security:
  rate_limit:
    enabled: false
EOF_PROTECTED
    env "${assets[@]}" "$server_bin" --config "$dir/protected.yaml" >"$logs/server-protected.log" 2>&1 &
    pids+=($!)
    protected_pid=$!
    wait_http "http://127.0.0.1:$protected_port/healthz" "the protected-mode mq-server" \
        "$protected_pid" || return 1

    say "[$backend] browser tests against $base/console/ (artifacts in $logs)"
    local status=0
    MQ_CONSOLE_E2E_BASE="$base" \
        MQ_CONSOLE_E2E_PROTECTED_BASE="http://127.0.0.1:$protected_port" \
        MQ_CONSOLE_E2E_TOKEN="$token" \
        MQ_CONSOLE_E2E_TOKEN_NAME="$token_name" \
        MQ_CONSOLE_E2E_BACKEND="$backend" \
        MQ_CONSOLE_E2E_OUT="$logs" \
        MQ_CONSOLE_E2E_CHROMIUM="$chromium_bin" \
        node --test --test-concurrency=1 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=junit --test-reporter-destination="$logs/junit.xml" \
        "$suite/console.test.mjs" &
    # In the background, so that a signal to this script is handled (and the node process,
    # which closes its browser on SIGTERM, cleaned up) without waiting for the tests to end.
    pids+=($!)
    wait "$!" || status=$?
    cleanup
    if [ "$status" -ne 0 ]; then
        fail "[$backend] browser tests failed (exit $status); screenshots and logs in $logs"
        return 1
    fi
    say "[$backend] browser tests passed; screenshots in $logs/screenshots"
}

status=0
failed=()
for backend in ${MQTEST_CONSOLE_BACKENDS:-memory redis_mongo}; do
    case "$backend" in
        memory | redis_mongo) run_backend "$backend" || { status=1; failed+=("$backend"); } ;;
        *)
            fail "unknown backend $backend (memory | redis_mongo)"
            status=1
            failed+=("$backend")
            ;;
    esac
done
if [ "$status" -ne 0 ]; then
    fail "console browser tests failed on: ${failed[*]}"
fi
exit "$status"
