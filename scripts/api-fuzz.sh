#!/usr/bin/env bash
# Checks the REST API against its own OpenAPI document (issue 9):
#   1. starts the debug mq-server with an admin token on a free port, on the embedded default
#      and then on Redis + a MongoDB-wire server (a redis-server and SecantusDB of its own);
#   2. validates GET /api/v1/mq/openapi.json with openapi-spec-validator;
#   3. runs schemathesis against it: property-based requests to every operation, failing on any
#      5xx and on any response whose status, content type, headers or body the document does
#      not allow.
#
#   bash scripts/api-fuzz.sh                   # MQTEST_FUZZ_EXAMPLES (default 30) cases per operation
#   MQTEST_FUZZ_EXAMPLES=200 bash scripts/api-fuzz.sh
#   MQTEST_FUZZ_BACKENDS=memory bash scripts/api-fuzz.sh   # one backend (memory | redis_mongo)
#
# MQTEST_SERVER_BIN names a server binary to test instead of building the debug one.
# The Redis + MongoDB run needs redis-server on PATH and MQTEST_SECANTUSD naming secantusd-py,
# which scripts/test.sh provides.
#
# The tools are installed, pinned, into .tools/apitest (pip). scripts/test.sh runs this script
# after the tests; the report (JUnit XML) lands in target/api-fuzz/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools_spec="schemathesis==4.32.5 openapi-spec-validator==0.9.0"
examples="${MQTEST_FUZZ_EXAMPLES:-30}"
venv="$root/.tools/apitest"
out="$root/target/api-fuzz"

if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$venv/.spec" 2>/dev/null)" != "$tools_spec" ]; then
    echo "api-fuzz: installing $tools_spec into .tools/apitest (pip)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # the spec is a list of requirements
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $tools_spec
    printf '%s\n' "$tools_spec" >"$venv/.spec"
fi

target_dir="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
# MQTEST_SERVER_BIN: a server built already (scripts/test.sh builds every target in one go, since
# `cargo build -p mq-server` alone resolves features differently and rebuilds dependencies).
server_bin="${MQTEST_SERVER_BIN:-}"
if [ -z "$server_bin" ]; then
    cargo build --quiet -p mq-server
    server_bin="$target_dir/debug/mq-server"
fi
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap 'cleanup; rm -rf "$work"' EXIT

# free_ports N: N distinct free ports, one per line (all held open while they are picked, so
# the server, Redis and SecantusDB never get the same one).
free_ports() {
    "$venv/bin/python" -c '
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in held))' "$1"
}

# Waits until a TCP port accepts connections (a store just spawned).
wait_port() {
    "$venv/bin/python" - "$1" "$2" <<'EOF_WAIT'
import socket, sys, time
port, what = int(sys.argv[1]), sys.argv[2]
deadline = time.time() + 60
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError as e:
        if time.time() > deadline:
            sys.exit(f"api-fuzz: {what} did not listen on port {port} within 60 s: {e}")
        time.sleep(0.2)
EOF_WAIT
}

token="api-fuzz-admin-token"

# fuzz BACKEND: one server on BACKEND, the document validated, then schemathesis against it.
fuzz() {
    local backend="$1" dir="$work/$1" port base redis_port mongo_port
    mkdir -p "$dir"
    { read -r port; read -r redis_port; read -r mongo_port; } < <(free_ports 3)
    base="http://127.0.0.1:$port"
    cat >"$dir/server.yaml" <<EOF_SERVER
server:
  bind: 127.0.0.1:$port
log:
  level: warn
auth:
  tokens:
    - {name: fuzz, token: $token, role: admin}
security:
  rate_limit:
    enabled: false
EOF_SERVER
    if [ "$backend" = redis_mongo ]; then
        if ! command -v redis-server >/dev/null || [ ! -x "${MQTEST_SECANTUSD:-}" ]; then
            echo "api-fuzz: the redis_mongo run needs redis-server on PATH and MQTEST_SECANTUSD" \
                "naming secantusd-py (bash scripts/test.sh installs both)" >&2
            return 1
        fi
        redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" >"$out/$backend-redis.log" 2>&1 &
        pids+=($!)
        mkdir -p "$dir/mongo"
        "$MQTEST_SECANTUSD" --host 127.0.0.1 --port "$mongo_port" --storage-path "$dir/mongo" \
            >"$out/$backend-secantusd.log" 2>&1 &
        pids+=($!)
        wait_port "$redis_port" redis-server || return 1
        wait_port "$mongo_port" secantusd-py || return 1
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
  database: fuzz
EOF_STORES
    fi
    "$server_bin" --config "$dir/server.yaml" >"$out/$backend-server.log" 2>&1 &
    local server_pid=$!
    pids+=("$server_pid")

    "$venv/bin/python" - "$base" "$dir/openapi.json" "$server_pid" <<'EOF_FETCH'
import sys, time, urllib.request
base, path, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.time() + 60
while True:
    try:
        with urllib.request.urlopen(base + "/api/v1/mq/openapi.json", timeout=2) as r:
            open(path, "wb").write(r.read())
            break
    except Exception as e:
        try:
            # An exited child stays a zombie until the shell reaps it.
            with open(f"/proc/{pid}/stat") as stat:
                alive = stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
        except OSError:
            alive = False
        if not alive:
            sys.exit(f"api-fuzz: the server at {base} exited before serving openapi.json")
        if time.time() > deadline:
            sys.exit(f"api-fuzz: the server at {base} did not serve openapi.json within 60 s: {e}")
        time.sleep(0.2)
EOF_FETCH
    if [ ! -s "$dir/openapi.json" ]; then
        echo "api-fuzz [$backend]: server log ($out/$backend-server.log):" >&2
        tail -n 20 "$out/$backend-server.log" >&2
        return 1
    fi
    cp "$dir/openapi.json" "$out/openapi.json"

    echo "api-fuzz [$backend]: openapi-spec-validator"
    "$venv/bin/openapi-spec-validator" "$dir/openapi.json" || return 1

    # A topic with messages and a group, so that generated requests also reach real resources
    # (consume, browse, ack with a forged receipt, group updates), not only 404s: the fuzzer
    # picks these names for about half of the topic and group parameters it generates.
    "$venv/bin/python" - "$base" "$token" <<'EOF_SEED'
import json, sys, urllib.request
base, token = sys.argv[1] + "/api/v1/mq", sys.argv[2]
def call(method, path, body):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
call("POST", "/topics", {"name": "fuzz-orders", "partitions": 2})
call("POST", "/consumer-groups", {"topicName": "fuzz-orders", "groupId": "fuzz-billing"})
call("POST", "/messages/batch", {"topicName": "fuzz-orders",
    "messages": [{"key": f"k{i}", "value": {"n": i}} for i in range(50)]})
EOF_SEED
    [ "$?" -eq 0 ] || return 1
    cat >"$dir/schemathesis.toml" <<'EOF_CONFIG'
[dictionaries.topics]
values = ["fuzz-orders"]
[dictionaries.groups]
values = ["fuzz-billing"]
[parameters]
"query.topicName" = { dictionary = "topics", probability = 0.5 }
"body.topicName" = { dictionary = "topics", probability = 0.5 }
"path.name" = { dictionary = "topics", probability = 0.5 }
"query.groupId" = { dictionary = "groups", probability = 0.5 }
"body.groupId" = { dictionary = "groups", probability = 0.5 }
"path.groupId" = { dictionary = "groups", probability = 0.5 }
EOF_CONFIG

    echo "api-fuzz [$backend]: schemathesis, $examples cases per operation, against $base"
    # The SSE stream never ends by design (its tests are in tests/e2e/stream.rs). Long polls
    # wait at most 30 s, hence the request timeout.
    "$venv/bin/schemathesis" --config-file "$dir/schemathesis.toml" run "$dir/openapi.json" \
        --url "$base" \
        --header "Authorization: Bearer $token" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing \
        --max-examples "$examples" \
        --seed 20261127 \
        --generation-database none \
        --exclude-path /api/v1/mq/consume/stream \
        --request-timeout 40 \
        --workers 2 \
        --no-color \
        --report junit --report-dir "$out/$backend"
    local status=$?
    cleanup
    return "$status"
}

status=0
for backend in ${MQTEST_FUZZ_BACKENDS:-memory redis_mongo}; do
    case "$backend" in
        memory | redis_mongo) fuzz "$backend" || status=1 ;;
        *) echo "api-fuzz: unknown backend $backend (memory | redis_mongo)" >&2; status=1 ;;
    esac
done
exit "$status"
