#!/usr/bin/env bash
# Enrolls and renews with nothing but openssl and curl (and jq to read JSON),
# proving the API is usable without the hostca client. Then checks the
# certificates with openssl verify and GnuTLS certtool, and that no secret
# reached the log or the store.
# Usage: e2e_curl.sh BUILD_BIN_DIR
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; cat "$work/server.log" >&2 || true; exit 1; }

"$bin/hostca-server" init --data "$work/ca" >/dev/null
"$bin/hostca-server" serve --data "$work/ca" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  >"$work/server.log" 2>&1 &
server_pid=$!

# Learn the ports from the log, then poll /healthz (bounded).
port=""
for _ in $(seq 1 500); do
  port="$(sed -n 's/.*listening https:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)"
  if [ -n "$port" ] && curl -sf --cacert "$work/ca/ca.crt" "https://localhost:$port/healthz" >/dev/null; then
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || fail "server exited"
  sleep 0.02
done
[ -n "$port" ] || fail "server did not start"
api="https://localhost:$port"
admin="$(cat "$work/ca/admin.token")"

# An admin makes a token.
token="$(curl -sf --cacert "$work/ca/ca.crt" -H "Authorization: Bearer $admin" \
  -d '{"name":"curl","max_uses":1}' "$api/v1/tokens" | jq -r .token)"
[ ${#token} -eq 43 ] || fail "no token"

# A host: key and CSR with openssl, enrollment with curl.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=web1 \
  -keyout "$work/host.key" -out "$work/host.csr" 2>/dev/null
jq -n --rawfile csr "$work/host.csr" --arg t "$token" '{csr:$csr, hostname:"web1.example", token:$t}' \
  >"$work/enroll.json"
code="$(curl -s -o "$work/enrolled.json" -w '%{http_code}' --cacert "$work/ca/ca.crt" \
  -H 'Content-Type: application/json' --data @"$work/enroll.json" "$api/v1/enroll")"
[ "$code" = 201 ] || fail "enroll answered $code: $(cat "$work/enrolled.json")"
jq -r .certificate "$work/enrolled.json" >"$work/host.crt"
host_id="$(jq -r .host_id "$work/enrolled.json")"
openssl verify -x509_strict -purpose sslserver -CAfile "$work/ca/ca.crt" "$work/host.crt" >/dev/null \
  || fail "openssl verify refused the enrolled certificate"
certtool --verify --load-ca-certificate "$work/ca/ca.crt" --infile "$work/host.crt" >/dev/null \
  || fail "certtool refused the enrolled certificate"
openssl x509 -in "$work/host.crt" -noout -ext subjectAltName | grep -q "URI:urn:uuid:$host_id" \
  || fail "SAN lacks the host ID"

# Renewal with TLS client authentication, again only openssl and curl.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=web1 \
  -keyout "$work/new.key" -out "$work/new.csr" 2>/dev/null
jq -n --rawfile csr "$work/new.csr" '{csr:$csr}' >"$work/renew.json"
code="$(curl -s -o "$work/renewed.json" -w '%{http_code}' --cacert "$work/ca/ca.crt" \
  --cert "$work/host.crt" --key "$work/host.key" \
  -H 'Content-Type: application/json' --data @"$work/renew.json" "$api/v1/renew")"
[ "$code" = 201 ] || fail "renew answered $code: $(cat "$work/renewed.json")"
[ "$(jq -r .host_id "$work/renewed.json")" = "$host_id" ] || fail "renewal changed the host ID"
jq -r .certificate "$work/renewed.json" >"$work/new.crt"
openssl verify -x509_strict -purpose sslclient -CAfile "$work/ca/ca.crt" "$work/new.crt" >/dev/null \
  || fail "openssl verify refused the renewed certificate"

# Renewal without a client certificate is refused with the stable code.
code="$(curl -s -o "$work/err.json" -w '%{http_code}' --cacert "$work/ca/ca.crt" \
  -H 'Content-Type: application/json' --data @"$work/renew.json" "$api/v1/renew")"
[ "$code" = 401 ] && [ "$(jq -r .error.code "$work/err.json")" = client_cert_required ] \
  || fail "renew without a certificate answered $code"

# An admin client certificate authenticates admin calls without the token;
# a host certificate does not.
"$bin/hostca-server" admin-cert --data "$work/ca" --name alice --out "$work/admin" >/dev/null \
  || fail "admin-cert failed"
[ "$(stat -c %a "$work/admin/alice.key")" = 600 ] || fail "admin key is not 0600"
code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca/ca.crt" \
  --cert "$work/admin/alice.crt" --key "$work/admin/alice.key" "$api/v1/tokens")"
[ "$code" = 200 ] || fail "admin certificate refused: $code"
code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca/ca.crt" \
  --cert "$work/new.crt" --key "$work/new.key" "$api/v1/tokens")"
[ "$code" = 401 ] || fail "a host certificate was accepted as admin: $code"

# No secret in the log or the store.
kill -TERM "$server_pid"; wait "$server_pid" || fail "server did not exit 0 on SIGTERM"; server_pid=""
for secret in "$token" "$admin"; do
  ! grep -qF "$secret" "$work/server.log" || fail "a secret is in the log"
  ! grep -qaF "$secret" "$work/ca/db/data.mdb" || fail "a secret is in the store"
done
echo "e2e_curl: OK"
