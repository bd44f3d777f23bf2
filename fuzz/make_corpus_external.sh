#!/usr/bin/env bash
# Seeds of fuzz/external (called by fuzz/make_corpus.sh; run alone as
#   fuzz/make_corpus_external.sh fuzz/corpus): CRLs PEM/DER from an `openssl
# ca` root and intermediate, with the issuer certificate in the same file so
# CheckCrl verifies signatures; leaf certificates with http/ldap/https/IPv6
# CDPs; a CDP cache entry; a URL.
set -euo pipefail
C="$(cd "$1" && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; cd "$work"
mkdir -p "$C/external"; rm -f "$C"/external/seed-*
e="$C/external"
for ca in root inter; do mkdir -p $ca/newcerts; : >$ca/index.txt; echo 1000 >$ca/crlnumber; echo 1000 >$ca/serial; done
cat >ext.cnf <<CNF
[req]
distinguished_name = dn
[dn]
[pol]
commonName = supplied
[crl_ext]
authorityKeyIdentifier = keyid:always
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://crl.example.com/root.crl
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth,serverAuth
subjectAltName = DNS:Web1.Example.COM,DNS:web1.example.org,IP:10.0.0.1
crlDistributionPoints = URI:ldap://ldap.example.com/cn=crl,URI:http://crl.example.com/int.crl,URI:https://crl.example.com/int.crl,URI:http://[2001:db8::1]:8080/int.crl?x=1
[root_ca]
dir = $work/root
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $work/root.pem
private_key = $work/root.key
default_md = sha256
policy = pol
default_days = 3650
crl_extensions = crl_ext
[inter_ca]
dir = $work/inter
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $work/inter.pem
private_key = $work/inter.key
default_md = sha256
policy = pol
default_days = 3650
crl_extensions = crl_ext
CNF
q() { "$@" >/dev/null 2>&1; }
q openssl req -new -config ext.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -subj "/CN=Fuzz External Root/O=Example" -out root.csr
q openssl ca -config ext.cnf -name root_ca -selfsign -batch -notext -keyfile root.key -in root.csr -extensions v3_root -out root.pem
q openssl req -new -config ext.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key -subj "/CN=Fuzz External Intermediate/O=Example" -out inter.csr
q openssl ca -config ext.cnf -name root_ca -batch -notext -in inter.csr -extensions v3_inter -out inter.pem
for n in web1 web2 web3; do
  q openssl req -new -config ext.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -subj "/CN=$n.example.com/O=Example" -out $n.csr
  q openssl ca -config ext.cnf -name inter_ca -batch -notext -in $n.csr -extensions leaf -out $n.pem
done
q openssl ca -config ext.cnf -name inter_ca -gencrl -crldays 30 -out inter-empty.crl
q openssl ca -config ext.cnf -name inter_ca -revoke web2.pem -crl_reason keyCompromise
q openssl ca -config ext.cnf -name inter_ca -revoke web3.pem
q openssl ca -config ext.cnf -name inter_ca -gencrl -crldays 30 -out inter-revoked.crl
q openssl ca -config ext.cnf -name root_ca -revoke inter.pem -crl_reason cACompromise
q openssl ca -config ext.cnf -name root_ca -gencrl -crldays 30 -out root.crl
cat inter.pem inter-empty.crl >"$e/seed-issuer-and-crl.pem"
cat root.pem root.crl inter.pem inter-revoked.crl >"$e/seed-chain-crls.pem"
openssl crl -in inter-revoked.crl -outform DER -out "$e/seed-crl-revoked.der"
openssl crl -in root.crl -outform DER -out root.der
cat "$e/seed-crl-revoked.der" root.der >"$e/seed-crl-concat.der"
cp web1.pem "$e/seed-leaf-cdp.pem"
openssl x509 -in web1.pem -outform DER -out "$e/seed-leaf-cdp.der"
printf 'hostca-crl-cache 1\nfetched_at 1767225600\nurl http://crl.example.com/int.crl\n\n' >"$e/seed-cache-entry"
cat "$e/seed-crl-revoked.der" >>"$e/seed-cache-entry"
printf 'http://[2001:db8::1]:8080/int.crl?x=1#frag' >"$e/seed-url"
