# Tollgate. The two commands a new user needs: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ARCH ?= arm64

.PHONY: help deps services stop dev test lint check

help:
	@echo "make dev     run the local stack with the demo tenant (Ctrl-C stops it)"
	@echo "make test    start the services if needed, then run every test"
	@echo "make stop    stop the background services (DynamoDB Local, moto, watch)"
	@echo "make check   the fast lane: fmt, clippy, MSRV, the library's tests (no services, seconds once built)"
	@echo "make lint    cargo fmt --check and clippy -D warnings"
	@echo "make fuzz    HTTP fuzz pass against a running make dev stack (FUZZ_REQUESTS=10000 FUZZ_SEED=…)"
	@echo "make validate              offline checks of infra/template.yaml and samconfig.toml"
	@echo "make package [ARCH=x86_64] release zips of every function and their sizes (default arm64)"
	@echo "make deploy ENV=canada     package, check and deploy one region's stack (canada|uk|us)"

deps:
	@scripts/local.sh deps

services:
	@scripts/local.sh start

stop:
	@scripts/local.sh stop

dev:
	@scripts/dev.sh

lint:
	scripts/msrv.sh
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test:
	@scripts/test.sh

# The fast lane: no DynamoDB, no emulator, no watch. The library's unit and
# endpoint tests over the fakes, its property tests and the layering test.
check: lint
	cargo test -p tollgate --quiet

# Random and mutated requests to every endpoint of a running `make dev` stack, in
# a tenant of its own; a summary, and a non-zero exit on any 5xx, hang or
# malformed error. FUZZ_REQUESTS (default 10000), FUZZ_SEED (default: random,
# printed), FUZZ_CONCURRENCY (default 8).
.PHONY: fuzz
fuzz:
	@test -f .local/env || { echo "no .local/env: start the stack with make dev first" >&2; exit 1; }
	@cargo build --quiet -p tollgate-admin -p tollgate-tests --bin tollgate-admin --bin tollgate-fuzz
	@. .local/env && target/debug/tollgate-fuzz

# ---- deploy (infra/template.yaml, samconfig.toml) --------------------------
.PHONY: package deploy validate

# Release zips of every function (target/lambda/<fn>/bootstrap.zip) and their sizes.
# ARCH=arm64 (default) or x86_64; must match the template's Architecture parameter.
package:
	@ARCH=$(ARCH) scripts/package.sh

# Package, check, then `sam deploy --config-env $(ENV)`; the architecture comes from
# samconfig.toml (an ARCH= on the command line must agree with it).
deploy:
	@ENV=$(ENV) $(if $(filter command line environment,$(origin ARCH)),ARCH=$(ARCH)) scripts/deploy.sh $(SAM_ARGS)

# Offline template checks: cfn-lint, sam validate --lint, the shape test.
validate:
	@scripts/validate-template.sh

# ---- benchmarks (not part of `make test`) -----------------------------------------
.PHONY: bench

# Cold start, warm latency, CPU, RSS, package size and cost of every function, with
# node-oidc-provider as the peer; prints the table, writes bench/results/latest.{md,json}.
bench:
	@bench/run.sh
