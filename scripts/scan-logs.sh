#!/usr/bin/env bash
# Scans the functions' captured logs of a whole test run (SPEC: Observability):
# every security event left an audit line with its stable name, and no line
# carries a token, a password or secret hash, or a credential-bearing field.
#   scripts/scan-logs.sh .local/watch.log
set -euo pipefail
log=${1:?usage: scan-logs.sh LOGFILE}
fail=0
for event in login_succeeded login_failed login_throttled token_issued \
             refresh_reuse_detected code_replay_detected token_revoked \
             password_changed foreign_login_post_refused token_exchanged \
             upstream_connected upstream_refreshed upstream_refresh_failed \
             upstream_reconnect_required upstream_disconnected \
             federated_signin_succeeded federated_signin_refused; do
  if ! grep -q "event=\"$event\"\|\"event\":\"$event\"" "$log"; then
    echo "[logs] no audit line for $event" >&2; fail=1
  fi
done
# A JWT (header.payload), an Argon2 or client-secret hash, or a form field
# that carries a credential.
if grep -nE 'eyJ[A-Za-z0-9_-]{8,}\.eyJ|\$argon2|sha256:[A-Za-z0-9_-]{20}|(client_secret|password|newpassword|refresh_token|code_verifier)=[^ &"]' "$log" | head -5 >&2; then
  echo "[logs] a secret-looking value is in the logs (above)" >&2; fail=1
fi
lines=$(grep -c 'audit' "$log" || true)
[ "$fail" = 0 ] && echo "[logs] $lines audit lines, every event present, no secret"
exit "$fail"
