#!/usr/bin/env bash
# Offline checks of the SAM template (infra/template.yaml), run by `make validate`
# and from `make test`:
#   1. cfn-lint                          (CloudFormation/SAM linter; no finding of any level,
#                                         informational ones included)
#   2. sam validate --lint               (the SAM CLI's own validation, the one `sam deploy` users run)
#   3. sam validate (SAM translator)     (expands the transform; catches SAM-only mistakes)
#   4. infra/tests/test_template.py      (pytest: the template's shape and security invariants,
#                                         run against both the raw and the SAM-expanded template)
# None of them needs AWS credentials or network: the tools come from PyPI into a
# dedicated virtualenv, and dummy credentials keep any SDK from looking for real ones.
#
#   scripts/validate-template.sh deps   install the pinned tools only (idempotent)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TEMPLATE=${TEMPLATE:-infra/template.yaml}
# Pinned so every machine lints with the same rules. A separate virtualenv, inside
# .venv/ (already git-ignored): aws-sam-cli pins boto3/click/pydantic versions that
# differ from those moto[server] brings into .venv, and sharing one environment would
# let either install break the other.
TOOLS=$ROOT/.venv/infra
AWS_SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
PYTEST_VERSION=9.2.0
STAMP=$TOOLS/.tollgate-infra-$AWS_SAM_CLI_VERSION-$CFN_LINT_VERSION-$PYTEST_VERSION

log() { printf '[validate] %s\n' "$*" >&2; }

deps() {
  if [ ! -x "$TOOLS/bin/python" ]; then
    log "creating $TOOLS"
    python3 -m venv "$TOOLS"
  fi
  if [ ! -f "$STAMP" ]; then
    log "installing aws-sam-cli==$AWS_SAM_CLI_VERSION cfn-lint==$CFN_LINT_VERSION pytest==$PYTEST_VERSION into .venv/infra"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check \
      "aws-sam-cli==$AWS_SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION" "pytest==$PYTEST_VERSION" >&2
    rm -f "$TOOLS"/.tollgate-infra-*
    touch "$STAMP"
  fi
}

deps
[ "${1:-}" = deps ] && exit 0

# No real account is ever needed or touched.
export AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline AWS_SESSION_TOKEN=offline
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0 SAM_CLI_CONTAINER_CONNECTION_TIMEOUT=1

log "cfn-lint $TEMPLATE"
"$TOOLS/bin/cfn-lint" --include-checks I --non-zero-exit-code informational -- "$TEMPLATE"

log "sam validate --lint --template $TEMPLATE"
"$TOOLS/bin/sam" validate --lint --template "$TEMPLATE" --region us-east-1

log "sam validate --template $TEMPLATE (SAM translator)"
"$TOOLS/bin/sam" validate --template "$TEMPLATE" --region us-east-1

log "template shape test (pytest)"
"$TOOLS/bin/python" -m pytest -q -p no:cacheprovider infra/tests
