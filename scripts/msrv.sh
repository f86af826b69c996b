#!/usr/bin/env bash
# The declared minimum Rust (`rust-version` in Cargo.toml) is what the build
# really needs: at least every locked dependency's own `rust-version` (the AWS
# SDK's is the highest), and at least 1.88 for the code's let-chains. Reads
# `cargo metadata` of the committed Cargo.lock. Fails when a dependency
# update raised the bar without the declaration following it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked --quiet | python3 -c '
import json, sys
m = json.load(sys.stdin)
ver = lambda s: tuple(int(x) for x in s.split("."))
declared = {p["rust_version"] for p in m["packages"] if p["id"] in m["workspace_members"]}
if len(declared) != 1:
    sys.exit(f"[msrv] workspace members declare different rust-versions: {sorted(declared)}")
declared = declared.pop()
used = {n["id"] for n in m["resolve"]["nodes"]}
deps = [(ver(p["rust_version"]), p["name"], p["rust_version"]) for p in m["packages"]
        if p["id"] in used and p.get("rust_version") and p["id"] not in m["workspace_members"]]
need, name, raw = max(deps + [((1, 88), "let-chains in our code", "1.88")])
if ver(declared) < need:
    sys.exit(f"[msrv] rust-version {declared} is too low: {name} needs {raw}")
if ver(declared) > need:
    sys.exit(f"[msrv] rust-version {declared} is higher than needed ({raw}, {name}): lower it")
print(f"[msrv] rust-version {declared}: what {name} needs")
'
