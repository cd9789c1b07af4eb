# Runs in a network namespace of its own (`unshare --net`): the server and schemathesis see
# only a loopback device, so nothing the fuzzer makes the server do leaves the machine (and the
# server may let destinations reach loopback: there is nothing else to reach).
# Arguments: courier binary, schemathesis binary, config file, work directory, examples.
set -u
courier=$1 schemathesis=$2 config=$3 work=$4 examples=$5
ip link set lo up
key=ck_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=18181
COURIER_BOOTSTRAP_API_KEY=$key COURIER_RATE_LIMIT_PER_SECOND=100000 \
    "$courier" serve --allow-private-destinations --data-dir "$work/data" --listen 127.0.0.1:$port \
    > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
    curl -sf 127.0.0.1:$port/readyz > /dev/null && break
    sleep 0.1
done
auth="Authorization: Bearer $key"
python=$(dirname "$schemathesis")/python
COURIER_FUZZ_WS=$(curl -sf -H "$auth" 127.0.0.1:$port/api/v1/workspaces |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
COURIER_FUZZ_OTHER_WS=$(curl -sf -H "$auth" -H 'content-type: application/json' -d '{"name": "Fuzzed"}' \
    127.0.0.1:$port/api/v1/workspaces | "$python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
export COURIER_FUZZ_WS COURIER_FUZZ_OTHER_WS
# Something to list and follow: a destination (to a closed port), a route, an event whose
# delivery fails and retries.
api=127.0.0.1:$port/api/v1/workspaces/$COURIER_FUZZ_WS
post() { curl -sf -H "$auth" -H 'content-type: application/json' "$api/$1" -d "$2"; }
dest=$(post destinations '{"name": "Seed", "destination_type": "webhook",
    "config": {"url": "http://127.0.0.1:9/hooks"}, "retry_intervals": [60000]}' |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
post routes '{"name": "Seed", "destination_id": "'"$dest"'", "event_types": ["*"]}' > /dev/null
post events '{"type": "seed.created", "payload": {"n": 1}}' > /dev/null
cd "$work"
HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" "$schemathesis" --config-file "$config" run \
    "http://127.0.0.1:$port/api/v1/openapi.json" -H "$auth" --checks all \
    --max-examples "$examples" --request-timeout 10 --seed 1 --workers 1 \
    --generation-database none --no-color
