#!/usr/bin/env bash
# Regenerates the seed corpora under fuzz/corpus/ with openssl (run once;
# the output is committed). Regression inputs (files named regress-*) are
# kept: only the seed-* files are rewritten.
#   fuzz/make_corpus.sh
set -euo pipefail
FUZZ_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$FUZZ_DIR/.." && pwd)"
C="$FUZZ_DIR/corpus"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p "$C"/{csr,json_bodies,pem,config,hostname}
rm -f "$C"/*/seed-*

san="subjectAltName=DNS:web01.example.org,DNS:www.example.org,IP:10.0.0.1,URI:urn:uuid:0"
ext=(-addext "$san" -addext "keyUsage=critical,digitalSignature"
     -addext "extendedKeyUsage=serverAuth,clientAuth" -addext "basicConstraints=CA:FALSE")

# CSRs: one per accepted key type, PEM and DER, with SAN and extensions.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed25519.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.key 2>/dev/null
for k in p256 p384 ed25519 rsa2048; do
  openssl req -new -key $k.key -subj "/CN=web01.example.org/O=hostca" "${ext[@]}" -out $k.csr
  cp $k.csr "$C/csr/seed-$k.pem"
  openssl req -in $k.csr -outform DER -out "$C/csr/seed-$k.der"
done
# Refused shapes that still parse: CA:TRUE, SHA-1 signature, no extensions,
# a legacy "NEW CERTIFICATE REQUEST" label, a challengePassword attribute.
openssl req -new -key p256.key -subj "/CN=ca" -addext "basicConstraints=critical,CA:TRUE" \
  -out "$C/csr/seed-p256-ca.pem"
openssl req -new -key rsa2048.key -sha1 -subj "/CN=sha1" -out "$C/csr/seed-rsa-sha1.pem"
openssl req -new -key p384.key -subj "/CN=bare" -outform DER -out "$C/csr/seed-p384-bare.der"
sed 's/CERTIFICATE REQUEST/NEW CERTIFICATE REQUEST/' p256.csr >"$C/csr/seed-p256-legacy.pem"
cat >chal.cnf <<'CNF'
[req]
distinguished_name = dn
attributes = attrs
prompt = no
[dn]
CN = chal
[attrs]
challengePassword = secret123
CNF
openssl req -new -key ed25519.key -config chal.cnf -out "$C/csr/seed-ed25519-challenge.pem"

# A CA with an intermediate, a host certificate, and CRLs from `openssl ca`.
openssl req -x509 -new -key p256.key -subj "/CN=Fuzz Root/O=hostca" -days 3650 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out root.crt
openssl req -new -key p384.key -subj "/CN=Fuzz Intermediate/O=hostca" -out int.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
openssl x509 -req -in int.csr -CA root.crt -CAkey p256.key -CAcreateserial -days 3650 \
  -extfile int.ext -out int.crt 2>/dev/null
printf '%s\n' "$san" 'crlDistributionPoints=URI:http://127.0.0.1:8080/crl' >host.ext
openssl x509 -req -in rsa2048.csr -CA int.crt -CAkey p384.key -CAcreateserial -days 365 \
  -extfile host.ext -out host.crt 2>/dev/null
openssl x509 -req -in ed25519.csr -CA int.crt -CAkey p384.key -CAcreateserial -days 365 \
  -extfile host.ext -out host-ed.crt 2>/dev/null
mkdir -p ca/newcerts
: >ca/index.txt
echo 1000 >ca/crlnumber
cat >ca.cnf <<CNF
[ca]
default_ca = fuzz
[fuzz]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
crlnumber = \$dir/crlnumber
certificate = $work/int.crt
private_key = $work/p384.key
default_md = sha384
default_crl_days = 7
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF
openssl ca -config ca.cnf -gencrl -out empty.crl 2>/dev/null
openssl ca -config ca.cnf -revoke host.crt -crl_reason keyCompromise 2>/dev/null
openssl ca -config ca.cnf -revoke host-ed.crt -crl_reason superseded 2>/dev/null
openssl ca -config ca.cnf -gencrl -out revoked.crl 2>/dev/null
cp empty.crl "$C/pem/seed-crl-empty.pem"
cp revoked.crl "$C/pem/seed-crl-revoked.pem"
openssl crl -in revoked.crl -outform DER -out "$C/pem/seed-crl-revoked.der"
cat host.crt int.crt root.crt >"$C/pem/seed-bundle-chain.pem"
{ echo "# trust bundle with comments"; openssl x509 -in root.crt -text; cat int.crt; } \
  >"$C/pem/seed-bundle-text.pem"
openssl x509 -in host-ed.crt -outform DER -out "$C/pem/seed-cert-ed25519.der"
cp host.crt "$C/pem/seed-cert-rsa.pem"
cp p256.csr "$C/pem/seed-csr-p256.pem"

# JSON bodies of every API call that takes one (DESIGN.md section 8).
csr_json="$(jq -Rs . <p256.csr)"
j="$C/json_bodies"
echo "{\"csr\": $csr_json, \"hostname\": \"web01.example.org\"}" >"$j/seed-enroll.json"
echo "{\"csr\": $csr_json, \"hostname\": \"Web01.Example.ORG\", \"token\": \"$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=')\"}" \
  >"$j/seed-enroll-token.json"
echo "{\"csr\": $(jq -Rs . <ed25519.csr)}" >"$j/seed-renew.json"
echo '{"reason": "keyCompromise"}' >"$j/seed-revoke.json"
echo '{"name": "rack-42", "max_uses": 10, "ttl_seconds": 3600, "reason": "new rack"}' \
  >"$j/seed-tokens.json"
echo '{"name": "reissue-db1", "host_id": "0b8f3c1e-7d2a-4c55-9e21-5f0a8b7c6d4e", "max_uses": 1}' \
  >"$j/seed-tokens-reissue.json"
echo '{"hostname": "db1.example.org", "aliases": ["db.example.org", "mysql.example.org"]}' \
  >"$j/seed-hosts.json"
echo '{"seconds": 172800}' >"$j/seed-allow-reissue.json"
echo '{"reason": "cessationOfOperation"}' >"$j/seed-hosts-revoke.json"
echo '{"reason": "superseded"}' >"$j/seed-certs-revoke.json"
echo '{"level": "very-high"}' >"$j/seed-security-level.json"
echo '{"mode": "internal"}' >"$j/seed-mode.json"
echo '{"hostname": "web01.example.org"}' >"$j/seed-external-enroll.json"
printf '{"csr": null, "hostname": 7, "max_uses": 1e400, "seconds": -9223372036854775808, "ttl_seconds": 18446744073709551615, "aliases": [1, "\\u00e9", "\\ud83d\\ude00"], "level": "", "expires_before": "2026-11-30T12:00:00Z"}\n' \
  >"$j/seed-odd-types.json"
# 30,000 nested arrays (60 KB, under the 64 KiB body limit): parsing,
# moving and destroying it must not recurse off the stack.
{ printf '{"hostname": "a", "aliases": '; printf '[%.0s' $(seq 30000); printf ']%.0s' $(seq 30000); printf '}'; } \
  >"$j/seed-deep-nesting.json"

# Configuration: the documented file and variants.
cp "$ROOT/conf/hostca.toml" "$C/config/seed-hostca.toml"
printf '[server]\nlisten = "[::1]:0"\nhttp_listen = "0.0.0.0:80"\npublic_url = "http://ca.example.org"\nthreads = 8\nmax_body_bytes = 1048576\nlog_level = "debug"\n[storage]\ndurable = false\nmax_batch = 1\n[issuance]\nvalidity_days = 90\nmin_rsa_bits = 3072\n' \
  >"$C/config/seed-nondefault.toml"
printf '[server]\nlisten = "127.0.0.1:8443"\nlistne = "typo"\n' >"$C/config/seed-unknown-key.toml"
printf '[crl]\nvalidity_days = "seven"\n[tidy]\nretention_days = 1.5\n' >"$C/config/seed-wrong-type.toml"
printf 'listen = "x"\n[server.nested]\na = 1\n' >"$C/config/seed-not-table.toml"
printf '[crl]\nvalidity_days = 366\nrepublish_seconds = 59\n[storage]\ninitial_map_mib = 9223372036854775807\nmax_map_gib = -1\n' \
  >"$C/config/seed-ranges.toml"
printf '' >"$C/config/seed-empty.toml"

# Host names.
h="$C/hostname"
printf 'web01.example.org' >"$h/seed-plain"
printf 'WEB-01.Example.ORG' >"$h/seed-upper"
printf 'xn--bcher-kva.example' >"$h/seed-punycode"
printf '%s.%s.%s.%s' "$(printf 'a%.0s' {1..63})" "$(printf 'b%.0s' {1..63})" \
  "$(printf 'c%.0s' {1..63})" "$(printf 'd%.0s' {1..61})" >"$h/seed-253"
printf '*.example.org' >"$h/seed-wildcard"
printf 'host.example.org.' >"$h/seed-trailing-dot"
printf -- '-a.b-' >"$h/seed-hyphens"
printf '0b8f3c1e-7d2a-4c55-9e21-5f0a8b7c6d4e' >"$h/seed-host-id"
printf 'h\xc3\xa9llo.example' >"$h/seed-utf8"
"$FUZZ_DIR/make_corpus_external.sh" "$C"
echo "seed corpora written to $C" >&2
