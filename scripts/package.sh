#!/usr/bin/env bash
# `make package [ARCH=arm64|x86_64]`: release builds of every Lambda function with
# cargo-lambda, as the zips infra/template.yaml deploys
# (target/lambda/<function>/bootstrap.zip), then each zip's size.
#
# arm64 (the default, and what the template defaults to) needs the Rust standard
# library for aarch64-unknown-linux-gnu: `rustup target add aarch64-unknown-linux-gnu`.
# Linking uses zig (PyPI `ziglang`, installed into .venv with cargo-lambda), so no
# cross toolchain is needed, and the binaries target an old glibc that Amazon
# Linux 2023 (provided.al2023, glibc 2.34) satisfies; this script checks that.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${ARCH:-arm64}
# The nine public functions and the scheduled `maintenance` (key rotation); the template
# shape test (infra/tests) checks this list against infra/template.yaml and functions/.
FUNCTIONS=(authorize callback token refresh change-password discovery introspect revoke userinfo maintenance)
# provided.al2023 ships glibc 2.34: no binary may need a newer symbol version.
MAX_GLIBC=2.34

log() { printf '[package] %s\n' "$*" >&2; }
die() { printf '[package] error: %s\n' "$*" >&2; exit 1; }

case "$ARCH" in
  arm64 | aarch64) ARCH=arm64; triple=aarch64-unknown-linux-gnu; flag=--arm64 ;;
  x86_64 | x86-64 | amd64) ARCH=x86_64; triple=x86_64-unknown-linux-gnu; flag=--x86-64 ;;
  *) die "ARCH must be arm64 or x86_64 (got '$ARCH')" ;;
esac

# The target's standard library must be installed (rustup or not, it lives here).
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$triple/lib" ]; then
  die "the Rust standard library for $triple is not installed.
  Install it with:   rustup target add $triple
  or build for the other architecture (and deploy with the matching Architecture
  parameter):        make package ARCH=$([ "$ARCH" = arm64 ] && echo x86_64 || echo arm64)"
fi

# cargo-lambda (which brings zig, PyPI `ziglang`) lives in .venv, at the version
# scripts/local.sh pins; installed here too so packaging needs no Java or npm.
if [ ! -x .venv/bin/cargo-lambda ]; then
  version=$(sed -n 's/^CARGO_LAMBDA_VERSION=//p' scripts/local.sh)
  log "installing cargo-lambda==$version into .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "cargo-lambda==$version" >&2
fi
export PATH="$PWD/.venv/bin:$PATH"   # cargo-lambda finds zig through the venv's python

pkgs=()
for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
log "cargo lambda build --release --disable-optimizations $flag --output-format zip (${FUNCTIONS[*]})"
start=$SECONDS
# Drop stale zips first, so a failed build can never leave an old zip behind that
# the size report or `make deploy` would take for this build's.
for f in "${FUNCTIONS[@]}"; do rm -f "target/lambda/$f/bootstrap.zip" "target/lambda/$f/bootstrap"; done
rm -f target/lambda/.arch
# --disable-optimizations: use the workspace's own release profile (fat LTO, one
# codegen unit, stripped) instead of cargo-lambda's overrides, which would also
# switch panics to abort; we keep unwinding so the runtime turns a stray panic into
# one failed invocation instead of a dead sandbox.
.venv/bin/cargo-lambda lambda build --release --disable-optimizations "$flag" --output-format zip "${pkgs[@]}"
log "built in $((SECONDS - start)) s"

# Check every zip: present, holds an executable `bootstrap` for the right machine
# and no glibc symbol newer than provided.al2023's; then report sizes.
python3 - "$ARCH" "$MAX_GLIBC" "${FUNCTIONS[@]}" <<'PY'
import re, struct, sys, zipfile
arch, max_glibc, funcs = sys.argv[1], sys.argv[2], sys.argv[3:]
want_machine = {"arm64": 183, "x86_64": 62}[arch]  # EM_AARCH64, EM_X86_64
vers = lambda s: tuple(int(x) for x in s.split("."))
total, rows, errors = 0, [], []
for f in funcs:
    path = f"target/lambda/{f}/bootstrap.zip"
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        errors.append(f"{path}: {e}"); continue
    names = z.namelist()
    if names != ["bootstrap"]:
        errors.append(f"{path}: expected exactly one entry 'bootstrap', got {names}")
        continue
    info = z.getinfo("bootstrap")
    if not (info.external_attr >> 16) & 0o100:
        errors.append(f"{path}: bootstrap is not executable")
    elf = z.read("bootstrap")
    if elf[:4] != b"\x7fELF":
        errors.append(f"{path}: bootstrap is not an ELF binary"); continue
    machine = struct.unpack_from("<H", elf, 18)[0]
    if machine != want_machine:
        errors.append(f"{path}: built for ELF machine {machine}, not {arch}")
    needed = sorted({m.decode() for m in re.findall(rb"GLIBC_(\d+\.\d+(?:\.\d+)?)", elf)}, key=vers)
    newest = needed[-1] if needed else "-"
    if needed and vers(newest) > vers(max_glibc):
        errors.append(f"{path}: needs GLIBC_{newest}, provided.al2023 has {max_glibc}")
    size = __import__("os").path.getsize(path)
    total += size
    rows.append((f, size, info.file_size, newest))
print(f"\nTollgate Lambda packages ({arch}, release):")
print(f"  {'function':<16}{'zip':>12}{'bootstrap':>14}  newest glibc symbol")
for f, size, raw, g in rows:
    print(f"  {f:<16}{size/1024/1024:>9.2f} MiB{raw/1024/1024:>10.2f} MiB  {g}  target/lambda/{f}/bootstrap.zip")
print(f"  {'total':<16}{total/1024/1024:>9.2f} MiB")
if errors:
    print("\n".join("[package] error: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
PY
# Remember the architecture, so `make deploy` can refuse a mismatched template.
echo "$ARCH" >target/lambda/.arch
