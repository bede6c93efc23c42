#!/usr/bin/env bash
# `make demo`: run Faro locally on examples/docs with the real all-MiniLM-L6-v2 model, ask two questions,
# print the answers, then stop. Data stays in .faro-data (a second run re-uses it and embeds nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${FARO_DEMO_PORT:-8080}"
unset FARO_DEMO_PORT  # the demo's own setting: faro would warn that it is not one of its settings
URL="http://127.0.0.1:${PORT}"
LOG="$(mktemp -t faro-demo.XXXXXX.log)"

faro local --embedder minilm --docs examples/docs --data-dir .faro-data --port "$PORT" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT

echo "Starting Faro local mode (embedded PostgreSQL + pgvector, Qdrant Edge in-process, MiniLM) on $URL ..."
for _ in $(seq 1 600); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('$URL/readyz', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "faro local exited early; its log:"; cat "$LOG"; exit 1
  fi
  sleep 0.5
done
grep -E "^ingested" "$LOG" || true

echo
echo '$ faro query "How does Faro avoid losing writes when Qdrant is down?"'
faro query "How does Faro avoid losing writes when Qdrant is down?" --url "$URL" --top-k 3
echo
echo '$ faro query "what happens when a query cannot reach Qdrant" --backend auto'
faro query "what happens when a query cannot reach Qdrant" --url "$URL" --top-k 3
echo
echo "Done. Keep it running with:  .venv/bin/faro local --embedder minilm --docs examples/docs"
echo "then open http://127.0.0.1:8080/docs, or: .venv/bin/faro query \"your question\""
