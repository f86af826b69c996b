#!/usr/bin/env python3
"""Prints `<stack_name> <region> <Architecture>` of one samconfig.toml deploy
environment (used by scripts/deploy.sh and scripts/stack-env.sh); with no
argument, lists the environments. Exits non-zero with a one-line message for an
unknown environment."""
import sys
import tomllib

cfg = tomllib.load(open("samconfig.toml", "rb"))
envs = {k: v["deploy"]["parameters"] for k, v in cfg.items() if isinstance(v, dict) and "deploy" in v}
if len(sys.argv) < 2 or not sys.argv[1]:
    print("|".join(envs))
    sys.exit(0)
env = sys.argv[1]
if env not in envs:
    sys.exit(f"no [{env}.deploy.parameters] in samconfig.toml (have: {', '.join(envs)})")
d = envs[env]
overrides = d.get("parameter_overrides", "")
words = overrides if isinstance(overrides, list) else overrides.split()
arch = dict(w.split("=", 1) for w in words if "=" in w).get("Architecture", "arm64")
print(d["stack_name"], d["region"], arch)
