#!/usr/bin/env bash
# The tollgate-admin environment of a deployed stack, as shell `export` lines, from
# the stack's AdminEnvironment output (table, secret prefix, region, public URLs):
#
#   eval "$(scripts/stack-env.sh canada)"
#   target/release/tollgate-admin tenant create acme --name "Acme Inc."
#
# Needs AWS credentials that may read the stack (cloudformation:DescribeStacks) and,
# for tollgate-admin itself, the stack's AdminPolicyArn policy.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV=${1:-}
[ -n "$ENV" ] || { echo "usage: scripts/stack-env.sh <$(scripts/samconfig-env.py)>" >&2; exit 2; }
read -r STACK REGION _ < <(scripts/samconfig-env.py "$ENV" || echo)
[ -n "${REGION:-}" ] || exit 1
SAM=${SAM:-$(command -v sam || echo .venv/infra/bin/sam)}
[ -x "$SAM" ] || { echo "no SAM CLI found: pip install aws-sam-cli, or scripts/validate-template.sh deps" >&2; exit 1; }
SAM_CLI_TELEMETRY=0 "$SAM" list stack-outputs --stack-name "$STACK" --region "$REGION" --output json |
  python3 -c '
import json, shlex, sys
outputs = {o["OutputKey"]: o["OutputValue"] for o in json.load(sys.stdin)}
for word in outputs["AdminEnvironment"].split():
    key, _, value = word.partition("=")
    print(f"export {key}={shlex.quote(value)}")
'
