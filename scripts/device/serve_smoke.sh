#!/usr/bin/env bash
# Runs on the lent GPU machine from the stage (scripts/device/build.sh, with golden-a): `dsv4 serve
# golden-a --device cuda` on a loopback port, then as a client would use it: /health, a token-id
# completion, the same streamed over SSE, /metrics, and `dsv4 bench serve` (token-id prompts) at
# concurrency 1, 4 and 16; then `dsv4 drift golden-a --device cuda`. Logs to $OUT.
set -uo pipefail
STAGE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
GOLDEN=$STAGE/shared/golden/golden-a
PORT=${PORT:-18471}
URL=http://127.0.0.1:$PORT
rc=0
# HTTP through python3 (always on the GPU image; curl may not be).
http() {  # http METHOD PATH [JSON]: prints the status on stderr and the body on stdout
  python3 - "$@" <<'PY'
import sys, urllib.request
method, path = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request("http://127.0.0.1:%s%s" % (__import__("os").environ["PORT"], path), data=data, method=method,
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=120) as r:
        for line in r:
            sys.stdout.write(line.decode()); sys.stdout.flush()
        print("status", r.status, file=sys.stderr)
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode()); print("status", e.code, file=sys.stderr)
except Exception as e:
    print("status error", e, file=sys.stderr)
PY
}
export PORT
"$STAGE/bin/dsv4" serve "$GOLDEN" --device "${DEVICE:-cuda}" --port "$PORT" --max-num-seqs 16 --served-model-name golden-a \
  >"$OUT/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 120); do
  http GET /health 2>&1 | grep -q "status 200" && break
  sleep 0.5
done
echo "== /health"; http GET /health
echo "== POST /v1/completions (token ids, greedy 16)"
http POST /v1/completions '{"model":"golden-a","prompt":[0,17,42,1000,7,365,12,99],"max_tokens":16,"temperature":0}' \
  | tee "$OUT/completion.json"
echo
echo "== the same, streamed (SSE)"
http POST /v1/completions '{"model":"golden-a","prompt":[0,17,42,1000,7,365,12,99],"max_tokens":8,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' \
  | tee "$OUT/stream.txt" | tail -4
echo "== bench serve"
"$STAGE/bin/dsv4" bench serve --base-url "$URL" --input-len 256 --output-len 64 --num-prompts "${NUM_PROMPTS:-32}" \
  --concurrency-sweep "${SWEEP:-1,4,16}" --vocab-range 2,2048 2>&1 | tee "$OUT/bench_serve.log" | tail -25 || rc=1
http GET /metrics >"$OUT/metrics.txt" 2>/dev/null
grep -E "^vllm:(num_requests|generation_tokens_total|prompt_tokens_total)" "$OUT/metrics.txt" | head
kill -INT "$SERVER"
wait "$SERVER" || rc=1
echo "== server exit $? (SIGINT)"
tail -3 "$OUT/serve.log"
IDS=$(python3 -c "import json;print(','.join(map(str,json.load(open('$GOLDEN/expected.json'))['prompts'][1]['token_ids'])))")
echo "== dsv4 drift golden-a p1 --device cuda (exact)"
"$STAGE/bin/dsv4" drift "$GOLDEN" --ids "$IDS" --device "${DEVICE:-cuda}" 2>&1 | tee "$OUT/drift.log" | tail -12 || rc=1
exit $rc
