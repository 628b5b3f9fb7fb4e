#!/usr/bin/env bash
# The main job, on embedded defaults: installs, builds, then runs a policy store, the server, an
# agent and a local data source, and plays OPAL's "trigger data updates" walkthrough against them,
# ending with the data visible in the store. KEEP_RUNNING=1 leaves everything up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
B=${BUILD_DIR:-build}
RUN=$(mktemp -d "${TMPDIR:-/tmp}/pdl-demo-XXXXXX")
pids=()
cleanup() {
  if [ "${KEEP_RUNNING:-0}" != 1 ]; then
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
trap cleanup EXIT

wait_port() {  # wait_port FILE: prints the port once the process wrote it
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}
wait_ok() {  # wait_ok URL
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

# 1. A policy store: a real OPA when one is on PATH, else our stand-in that answers like OPA 1.9.
if command -v opa >/dev/null 2>&1; then
  OPA_PORT=8181
  opa run --server --addr "127.0.0.1:$OPA_PORT" >"$RUN/opa.log" 2>&1 & pids+=($!)
  wait_ok "http://127.0.0.1:$OPA_PORT/health"
  echo "policy store: opa on :$OPA_PORT"
else
  "$B/opa-standin" --addr 127.0.0.1:0 --port-file "$RUN/opa.port" >"$RUN/opa.log" 2>&1 & pids+=($!)
  OPA_PORT=$(wait_port "$RUN/opa.port")
  echo "policy store: OPA stand-in (no opa on PATH) on :$OPA_PORT"
fi

# 2. The billing service's data source: answers 401 unless it gets the bearer header.
"$B/fake-data-source" --addr 127.0.0.1:0 --port-file "$RUN/source.port" \
  --require-header "authorization: bearer secret-token" \
  --route '/users={"alice":{"role":"admin","teams":["billing"]},"bob":{"role":"viewer","manager":null}}' \
  >"$RUN/source.log" 2>&1 & pids+=($!)
SOURCE_PORT=$(wait_port "$RUN/source.port")

# 3. opal-server generate-secret; the server, with that master token.
MASTER=$("$B/opal-server" generate-secret)
OPAL_AUTH_MASTER_TOKEN="$MASTER" OPAL_SERVER_BIND_PORT=0 \
  "$B/opal-server" run --port-file "$RUN/server.port" >"$RUN/server.log" 2>&1 & pids+=($!)
SERVER="http://127.0.0.1:$(wait_port "$RUN/server.port")"
echo "server: $SERVER"

# 4. An agent subscribed to "billing", writing to the store.
CLIENT_TOKEN=$("$B/opal-client" obtain-token "$MASTER" --uri="$SERVER" --type client)
OPAL_SERVER_URL="$SERVER" OPAL_CLIENT_TOKEN="$CLIENT_TOKEN" OPAL_DATA_TOPICS=billing \
  OPAL_POLICY_STORE_URL="http://127.0.0.1:$OPA_PORT" OPAL_CLIENT_API_SERVER_PORT=0 \
  "$B/opal-client" run --port-file "$RUN/agent.port" >"$RUN/agent.log" 2>&1 & pids+=($!)
AGENT="http://127.0.0.1:$(wait_port "$RUN/agent.port")"
wait_ok "$AGENT/ready"
echo "agent: $AGENT (ready)"

# 5. The walkthrough.
echo
echo "\$ opal-client obtain-token \$MASTER --uri=$SERVER --type datasource"
token=$("$B/opal-client" obtain-token "$MASTER" --uri="$SERVER" --type datasource)
echo "\$ opal-client publish-data-update \$token --src-url http://127.0.0.1:$SOURCE_PORT/users -t users -t billing --src-config '{\"headers\":{\"authorization\":\"bearer secret-token\"}}' --dst-path /users"
"$B/opal-client" publish-data-update "$token" --uri="$SERVER" \
  --src-url "http://127.0.0.1:$SOURCE_PORT/users" -t users -t billing \
  --src-config '{"headers":{"authorization":"bearer secret-token"}}' --dst-path /users

# 6. The data, visible in the store.
for _ in $(seq 1 100); do
  out=$(curl -fsS "http://127.0.0.1:$OPA_PORT/v1/data/users" || true)
  case "$out" in *alice*) break ;; esac
  sleep 0.05
done
echo
echo "\$ curl http://127.0.0.1:$OPA_PORT/v1/data/users"
echo "$out"
case "$out" in *alice*) echo "demo: OK, the update is in the policy store" ;;
  *) echo "demo: FAILED, logs in $RUN" >&2; exit 1 ;; esac
echo "logs: $RUN"
if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "KEEP_RUNNING=1: server, agent and store stay up (pids ${pids[*]})"
fi
