#!/usr/bin/env bash
# Seeds tenant `demo` with a confidential client and a user, once per stack
# lifetime, and prints their credentials and a ready-to-open authorize URL.
set -euo pipefail
cd "$(dirname "$0")/.."
. .local/env
ADMIN=${ADMIN:-target/debug/tollgate-admin}
DEMO=.local/demo.json
REDIRECT=http://127.0.0.1:8080/callback
DEMO_PASSWORD=${DEMO_PASSWORD:-demo-password}

"$ADMIN" init >/dev/null
if out=$(printf '%s' "$DEMO_PASSWORD" | "$ADMIN" tenant bootstrap demo --name "Demo Company" \
    --audience https://api.demo.example \
    --client-name "Demo App" --grant authorization_code --grant password --grant client_credentials \
    --redirect-uri "$REDIRECT" --redirect-uri https://oauth.example.com/callback --scope api \
    --scope upstream:crm \
    --username demo --email demo@demo.example --user-name "Demo User" --attr role=admin \
    2>.local/seed.err); then
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps({"client": d["client"], "user": d["user"], "username": "demo", "password": sys.argv[2]}))' \
    "$out" "$DEMO_PASSWORD" >"$DEMO"
elif grep -q "already exists" .local/seed.err && [[ -f $DEMO ]]; then
  :
else
  cat .local/seed.err >&2
  exit 1
fi

# The token vault's demo: tenant `demo-crm` of this same stack plays a
# Maximizer-style upstream (600 s access tokens, single-use rotating refresh
# tokens), and `demo` has provider `crm` for it (the maximizer preset, its
# endpoints pointed at demo-crm; refresh grants go to the refresh function).
UPSTREAM=.local/demo-crm.json
CRM_PASSWORD=${CRM_PASSWORD:-crm-password}
url() { printf '%s' "${TOLLGATE_FUNCTION_URL_TEMPLATE//\{function\}/$1}"; }
CALLBACK_URI="$(url callback)/oauth2/demo/upstream/crm/callback"
# The services keep their data in memory: look at the table, not at a file.
if ! "$ADMIN" provider get --tenant demo --name crm >/dev/null 2>&1; then
  "$ADMIN" tenant delete demo-crm >/dev/null 2>&1 || true
  if crm=$(printf '%s' "$CRM_PASSWORD" | "$ADMIN" tenant bootstrap demo-crm --name "Demo CRM (upstream)" \
      --access-token-ttl 600 --audience https://api.crm.example \
      --client-name "Tollgate vault" --grant authorization_code --redirect-uri "$CALLBACK_URI" --scope crm \
      --username crm-user --email crm-user@crm.example --user-name "CRM User" 2>.local/seed.err); then
    crm_client=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client"]["client_id"])' "$crm")
    crm_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client"]["client_secret"])' "$crm")
    printf '%s\n' "$crm_secret" | "$ADMIN" provider add --tenant demo --name crm --preset maximizer \
      --var region=demo --var company_alias=demo-crm --display-name "Demo CRM" \
      --authorize-url "$(url authorize)/oauth2/demo-crm/authorize" \
      --token-url "$(url token)/oauth2/demo-crm/token" \
      --refresh-url "$(url refresh)/oauth2/demo-crm/refresh" \
      --revocation-url "$(url revoke)/oauth2/demo-crm/revoke" \
      --client-id "$crm_client" --client-secret-stdin --scope crm >/dev/null 2>.local/seed.err \
      || { cat .local/seed.err >&2; exit 1; }
    python3 -c 'import json,sys; print(json.dumps({"username": "crm-user", "password": sys.argv[1]}))' \
      "$CRM_PASSWORD" >"$UPSTREAM"
  elif ! grep -q "already exists" .local/seed.err; then
    cat .local/seed.err >&2
    exit 1
  fi
fi

python3 - "$DEMO" "$REDIRECT" <<'PY'
import json, sys, urllib.parse, os
d = json.load(open(sys.argv[1]))
base = os.environ["TOLLGATE_FUNCTION_URL_TEMPLATE"]
u = lambda f: base.replace("{function}", f)
q = urllib.parse.urlencode({"response_type": "code", "client_id": d["client"]["client_id"],
    "redirect_uri": sys.argv[2], "scope": "openid api offline_access", "state": "demo-state"},
    quote_via=urllib.parse.quote)
print(f"""
Tollgate demo tenant is ready.
  discovery:     {u('discovery')}/oauth2/demo/.well-known/openid-configuration
  client_id:     {d['client']['client_id']}
  client_secret: {d['client']['client_secret']}
  user:          {d['username']} / {d['password']}  (user_id {d['user']['user_id']})
  authorize URL: {u('authorize')}/oauth2/demo/authorize?{q}
  token URL:     {u('token')}/oauth2/demo/token
  introspection: {u('introspect')}/oauth2/demo/introspect
  revocation:    {u('revoke')}/oauth2/demo/revoke
  userinfo:      {u('userinfo')}/oauth2/demo/userinfo
""")
crm = json.load(open(".local/demo-crm.json")) if os.path.exists(".local/demo-crm.json") else None
if crm:
    q = urllib.parse.urlencode({"response_type": "code", "client_id": d["client"]["client_id"],
        "redirect_uri": sys.argv[2], "scope": "openid api upstream:crm", "upstream": "crm",
        "state": "demo-connect"}, quote_via=urllib.parse.quote)
    print(f"""Token vault: provider `crm` is tenant demo-crm of this stack (Maximizer-style).
  connect URL:   {u('authorize')}/oauth2/demo/authorize?{q}
                 (sign in as {d['username']}, allow, then at Demo CRM as {crm['username']} / {crm['password']})
  upstream token: POST the token URL with grant_type=urn:ietf:params:oauth:grant-type:token-exchange,
                 subject_token=<the demo access token>, subject_token_type=urn:ietf:params:oauth:token-type:access_token,
                 audience=crm (README: "The token vault")
""")
PY
