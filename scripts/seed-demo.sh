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
PY
