#!/usr/bin/env bash
# `make deploy ENV=<env>`: deploys the Tollgate stack of one samconfig.toml
# environment (one region), with no step after it:
#   1. reads the environment's Architecture from samconfig.toml (default arm64)
#   2. `make package` for that architecture (incremental; refuses an ARCH= that
#      disagrees with samconfig.toml, so zips and template always match)
#   3. the offline template checks (scripts/validate-template.sh)
#   4. sam deploy --config-env <env>   (AWS credentials from the usual places)
#   5. prints the stack's outputs
#
#   ENV=canada scripts/deploy.sh [extra sam deploy flags, e.g. --no-execute-changeset]
#
# The SAM CLI: `sam` on PATH if there is one (pip install aws-sam-cli), else the
# pinned copy scripts/validate-template.sh installs into .venv/infra.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { printf '[deploy] error: %s\n' "$*" >&2; exit 1; }
log() { printf '[deploy] %s\n' "$*" >&2; }

ENV=${ENV:-}
[ -n "$ENV" ] || die "say which samconfig.toml environment: make deploy ENV=<$(scripts/samconfig-env.py)>"
read -r STACK REGION TEMPLATE_ARCH < <(scripts/samconfig-env.py "$ENV" || echo)
[ -n "${TEMPLATE_ARCH:-}" ] || exit 1
if [ -n "${ARCH:-}" ] && [ "$ARCH" != "$TEMPLATE_ARCH" ]; then
  die "ARCH=$ARCH, but samconfig.toml deploys [$ENV] with Architecture=$TEMPLATE_ARCH.
  Change Architecture= in that environment's parameter_overrides, or drop ARCH=."
fi
log "environment $ENV: stack $STACK in $REGION, $TEMPLATE_ARCH"

ARCH=$TEMPLATE_ARCH scripts/package.sh
[ "$(cat target/lambda/.arch 2>/dev/null)" = "$TEMPLATE_ARCH" ] || die "packages are not $TEMPLATE_ARCH"
scripts/validate-template.sh

SAM=${SAM:-$(command -v sam || echo .venv/infra/bin/sam)}
[ -x "$SAM" ] || die "no SAM CLI found (pip install aws-sam-cli)"
log "$SAM deploy --config-env $ENV $*"
SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0} "$SAM" deploy --config-file samconfig.toml --config-env "$ENV" "$@"
"$SAM" list stack-outputs --stack-name "$STACK" --region "$REGION" --output table
