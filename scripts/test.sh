#!/usr/bin/env bash
# `make test`: the services (started if not running), the table, the functions
# behind `cargo lambda watch` (reused if `make dev` runs), then every test.
# Stops whatever it started, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
WATCH_PORT=${WATCH_PORT:-9000}
services_up=$(scripts/local.sh status | grep -cE '^(dynamodb|moto): up' || true)
watch_up=$(scripts/local.sh status | grep -c '^watch: up' || true)
scripts/local.sh start
cleanup() {
  local rc=$?
  trap - INT TERM EXIT
  [ "$watch_up" = 0 ] && scripts/local.sh stop-one watch
  if [ "$services_up" = 0 ]; then scripts/local.sh stop-one moto; scripts/local.sh stop-one dynamodb; fi
  exit $rc
}
trap cleanup INT TERM EXIT
. .local/env

echo "[test] lint"
scripts/msrv.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "[test] deploy template (cfn-lint, sam validate --lint, shape test)"
scripts/validate-template.sh

echo "[test] build"
cargo build --workspace --all-targets --quiet
target/debug/tollgate-admin init >/dev/null

if [ "$watch_up" = 0 ]; then
  echo "[test] starting cargo lambda watch on 127.0.0.1:$WATCH_PORT"
  (exec setsid .venv/bin/cargo-lambda lambda watch -A 127.0.0.1 -P "$WATCH_PORT" --concurrency 8 --disable-cors \
    --ignore-changes --env-file .local/watch.env >.local/watch.log 2>&1 </dev/null) &
  echo $! >.local/watch.pid
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$WATCH_PORT") 2>/dev/null && break; sleep 0.1; done
  # cargo lambda watch builds each function on its first request (with its own
  # flags, so the build above does not cover it): one request to every
  # function now, so no test waits for a compiler (a browser test's 30 s would not).
  echo "[test] building the functions behind the watch (first request to each)"
  python3 - "$WATCH_PORT" <<'PY'
import sys, urllib.error, urllib.request
port = sys.argv[1]
for f in ["discovery", "authorize", "callback", "token", "refresh", "change-password",
          "introspect", "revoke", "userinfo"]:
    url = f"http://127.0.0.1:{port}/lambda-url/{f}/oauth2/warm-up/none"
    try:
        urllib.request.urlopen(url, timeout=900).read()
    except urllib.error.HTTPError:
        pass  # any answer means the function is built and running
PY
fi

echo "[test] cargo test"
cargo test --workspace --quiet -- --test-threads 8 2>&1 | tee .local/test.log
if [ "$watch_up" = 0 ]; then
  echo "[test] audit lines and secrets in the functions' logs"
  scripts/scan-logs.sh .local/watch.log
fi
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' .local/test.log
