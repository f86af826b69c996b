#!/usr/bin/env bash
# Federated sign-in's demo, once `cargo lambda watch` answers (the `oidc`
# preset reads the provider's discovery document): tenant `demo-crm` of this
# same stack, an OpenID provider like any other, becomes provider `crm-id` of
# `demo` with `--sign-in --create-users`, so demo's login page shows
# "Sign in with Demo CRM ID". Idempotent; prints what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
. .local/env
ADMIN=${ADMIN:-target/debug/tollgate-admin}
MARK=.local/demo-signin.json
url() { printf '%s' "${TOLLGATE_FUNCTION_URL_TEMPLATE//\{function\}/$1}"; }
ISSUER="$(url discovery)/oauth2/demo-crm"
CALLBACK_URI="$(url callback)/oauth2/demo/upstream/crm-id/callback"
# The services keep their data in memory: look at the table, not at a file.
if ! "$ADMIN" provider get --tenant demo --name crm-id >/dev/null 2>&1; then
  # The first request compiles the discovery function: wait for it (bounded).
  for _ in $(seq 1 600); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
      "$ISSUER/.well-known/openid-configuration" 2>/dev/null && break
    sleep 1
  done
  client=$("$ADMIN" client create --tenant demo-crm --name "Tollgate sign-in (demo)" \
    --grant authorization_code --redirect-uri "$CALLBACK_URI" --scope email 2>.local/seed-signin.err) \
    || { cat .local/seed-signin.err >&2; exit 1; }
  id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$client")
  secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$client")
  printf '%s\n' "$secret" | "$ADMIN" provider add --tenant demo --name crm-id --preset oidc \
    --issuer "$ISSUER" --client-id "$id" --client-secret-stdin --scope openid --scope email \
    --display-name "Demo CRM ID" --sign-in --create-users >/dev/null 2>.local/seed-signin.err \
    || { cat .local/seed-signin.err >&2; exit 1; }
  printf '{"provider": "crm-id", "client_id": "%s"}\n' "$id" >"$MARK"
fi
echo "[dev] federated sign-in: demo's login page offers \"Sign in with Demo CRM ID\" (tenant demo-crm; sign in there as crm-user / crm-password: a new demo user is made)"
