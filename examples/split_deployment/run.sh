#!/usr/bin/env bash
# Split deployment on loopback: three gRPC service processes and an HTTP gateway, on the local
# PostgreSQL, Redis and NATS. Migrates, starts everything, waits until ready, runs a curl
# scenario, and stops every process on exit (also on Ctrl-C or a failure).
#
#   examples/split_deployment/run.sh                 # scenario, then stop
#   KEEP_RUNNING=1 examples/split_deployment/run.sh  # scenario, then serve until Ctrl-C
#
# Every setting below can be overridden from the environment.
set -euo pipefail

VENTA="${VENTA:-venta}"                      # the venta command (e.g. .venv/bin/venta)
export VENTA_DATABASE_URL="${VENTA_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/venta}"
export VENTA_REDIS_URL="${VENTA_REDIS_URL:-redis://127.0.0.1:6379/0}"
export VENTA_NATS_URL="${VENTA_NATS_URL:-nats://127.0.0.1:4222}"
export VENTA_KEY_PREFIX="${VENTA_KEY_PREFIX:-venta}"
# One secret shared by every process of the deployment (see docs/grpc.md, Trust model).
export VENTA_GRPC__IDENTITY_SECRET="${VENTA_GRPC__IDENTITY_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export VENTA_GRPC__HOST=127.0.0.1
export VENTA_DATABASE_AUTO_MIGRATE=false

HTTP_PORT="${HTTP_PORT:-8000}"
USER_PORT="${USER_PORT:-5000}"
LOCATION_PORT="${LOCATION_PORT:-5001}"
VENDOR_PORT="${VENDOR_PORT:-5005}"
# Side ports (/health, /ready, /metrics) of the gRPC processes: gRPC port + 4000 by default.
USER_METRICS_PORT="${USER_METRICS_PORT:-$((USER_PORT + 4000))}"
LOCATION_METRICS_PORT="${LOCATION_METRICS_PORT:-$((LOCATION_PORT + 4000))}"
VENDOR_METRICS_PORT="${VENDOR_METRICS_PORT:-$((VENDOR_PORT + 4000))}"
LOG_DIR="${LOG_DIR:-$(mktemp -d -t venta-split.XXXXXX)}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"         # seconds
KEEP_RUNNING="${KEEP_RUNNING:-0}"

export VENTA_GRPC__USER_PORT="$USER_PORT"
export VENTA_GRPC__LOCATION_PORT="$LOCATION_PORT"
export VENTA_GRPC__VENDOR_PORT="$VENDOR_PORT"
GATEWAY="http://127.0.0.1:$HTTP_PORT"

declare -A PIDS=()

stop_all() {
  local status=$?
  trap - EXIT INT TERM
  if ((${#PIDS[@]})); then
    echo "stopping: ${!PIDS[*]}"
    for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
    for name in "${!PIDS[@]}"; do
      if wait "${PIDS[$name]}"; then echo "  $name exited 0"; else echo "  $name exited $?"; status=1; fi
    done
  fi
  echo "logs: $LOG_DIR"
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

start() {  # start NAME ENV=VALUE... -- ARGS...
  local name=$1; shift
  local -a env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  env "${env[@]}" "$VENTA" "$@" >"$LOG_DIR/$name.log" 2>&1 &
  PIDS[$name]=$!
  echo "started $name (pid ${PIDS[$name]}): venta $*"
}

wait_ready() {  # wait_ready NAME URL
  local name=$1 url=$2 deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "$name exited; its log:"; cat "$LOG_DIR/$name.log"; return 1
    fi
    if ((SECONDS > deadline)); then
      echo "$name not ready after ${READY_TIMEOUT}s ($url); its log:"; cat "$LOG_DIR/$name.log"
      return 1
    fi
    sleep 0.2
  done
  echo "ready: $name ($url)"
}

expect() {  # expect STATUS METHOD PATH [curl args...]; the body is left in $BODY
  local want=$1 method=$2 path=$3; shift 3
  local got
  got=$(curl -sS -o "$LOG_DIR/body" -w '%{http_code}' -X "$method" "$@" "$GATEWAY$path")
  BODY=$(cat "$LOG_DIR/body")
  if [[ $got != "$want" ]]; then
    echo "FAIL $method $path: expected $want, got $got: $BODY"; return 1
  fi
  echo "ok   $got $method $path"
}

field() {  # field NAME: the first "NAME":"value" of $BODY
  sed -nE "s/.*\"$1\":\"([^\"]*)\".*/\1/p" <<<"$BODY"
}

# -- 1. schema -----------------------------------------------------------------------------------
"$VENTA" db migrate

# -- 2. processes --------------------------------------------------------------------------------
start user VENTA_GRPC__METRICS_PORT="$USER_METRICS_PORT" -- serve grpc --service user
start vendor VENTA_GRPC__METRICS_PORT="$VENDOR_METRICS_PORT" -- serve grpc --service vendor
start location VENTA_GRPC__METRICS_PORT="$LOCATION_METRICS_PORT" \
  VENTA_SERVICES__VENDOR__ADDRESS="127.0.0.1:$VENDOR_PORT" -- serve grpc --service location
start gateway \
  VENTA_SERVICES__USER__ADDRESS="127.0.0.1:$USER_PORT" \
  VENTA_SERVICES__VENDOR__ADDRESS="127.0.0.1:$VENDOR_PORT" \
  VENTA_SERVICES__LOCATION__ADDRESS="127.0.0.1:$LOCATION_PORT" \
  -- serve gateway --host 127.0.0.1 --port "$HTTP_PORT"

wait_ready user "http://127.0.0.1:$USER_METRICS_PORT/ready"
wait_ready vendor "http://127.0.0.1:$VENDOR_METRICS_PORT/ready"
wait_ready location "http://127.0.0.1:$LOCATION_METRICS_PORT/ready"
wait_ready gateway "$GATEWAY/ready"

# -- 3. scenario ---------------------------------------------------------------------------------
ALICE=(-H "Authorization: Bearer $("$VENTA" token issue --sub split-alice)")
BOB=(-H "Authorization: Bearer $("$VENTA" token issue --sub split-bob)")
JSON=(-H 'Content-Type: application/json')
RID="split-demo-$RANDOM$RANDOM"

expect 201 POST /v1/vendors "${ALICE[@]}" "${JSON[@]}" -H "X-Request-ID: $RID" \
  -d '{"name":"Tacos Split","description":"al pastor"}'
ID=$(field id)
expect 200 PUT "/v1/vendors/$ID/location" "${ALICE[@]}" "${JSON[@]}" -d '{"lat":52.52,"long":13.405}'
expect 200 GET "/v1/vendors/nearby?swLat=52.5&swLong=13.38&neLat=52.54&neLong=13.43" "${BOB[@]}"
grep -q "\"$ID\"" <<<"$BODY" || { echo "FAIL: vendor $ID not in the box: $BODY"; exit 1; }
expect 200 GET "/v1/vendors/$ID" "${BOB[@]}"
[[ $(field name) == "Tacos Split" ]] || { echo "FAIL: read back $BODY"; exit 1; }
expect 403 PUT "/v1/vendors/$ID" "${BOB[@]}" "${JSON[@]}" -d '{"name":"Stolen"}'
[[ $(field code) == FORBIDDEN ]] || { echo "FAIL: $BODY"; exit 1; }
expect 404 GET /v1/vendors/00000000-0000-4000-8000-000000000000 "${BOB[@]}"
[[ $(field code) == VENDOR_NOT_FOUND ]] || { echo "FAIL: $BODY"; exit 1; }

# The gateway's request id in the vendor process's JSON log:
grep -q "\"request_id\": \"$RID\"" "$LOG_DIR/vendor.log" \
  || { echo "FAIL: request id $RID not in the vendor log"; exit 1; }
echo "ok   request id $RID logged by the vendor process"
echo "vendor process metrics:"
curl -fsS "http://127.0.0.1:$VENDOR_METRICS_PORT/metrics" | grep '^venta_grpc_server_handled_total'

echo "scenario passed"
if [[ $KEEP_RUNNING == 1 ]]; then
  echo "serving on $GATEWAY until Ctrl-C"
  wait
fi
