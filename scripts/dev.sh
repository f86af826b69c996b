#!/usr/bin/env bash
# `make dev`: services, table, demo tenant, then `cargo lambda watch` on
# 127.0.0.1:9000 in the foreground. Ctrl-C stops everything this run started.
set -euo pipefail
cd "$(dirname "$0")/.."
WATCH_PORT=${WATCH_PORT:-9000}
if (exec 3<>"/dev/tcp/127.0.0.1/$WATCH_PORT") 2>/dev/null; then
  echo "[dev] 127.0.0.1:$WATCH_PORT is already in use (another make dev? try: make stop)" >&2
  exit 1
fi
started_before=$(scripts/local.sh status | grep -c ': up' || true)
scripts/local.sh start
cleanup() {
  trap - INT TERM EXIT
  if [ "$started_before" = 0 ]; then scripts/local.sh stop; else scripts/local.sh stop-one watch; fi
}
trap cleanup INT TERM EXIT
cargo build --workspace --bins --quiet
scripts/seed-demo.sh
. .local/env
echo "[dev] cargo lambda watch on http://127.0.0.1:$WATCH_PORT (Ctrl-C to stop)"
setsid .venv/bin/cargo-lambda lambda watch -A 127.0.0.1 -P "$WATCH_PORT" --concurrency 4 --disable-cors \
  --env-file .local/watch.env &
echo $! >.local/watch.pid
# Federated sign-in's demo provider needs the running functions (discovery).
scripts/seed-signin.sh &
wait "$(cat .local/watch.pid)" || true
