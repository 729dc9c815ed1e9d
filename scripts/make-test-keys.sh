#!/usr/bin/env bash
# Make the RSA key pairs the digest tests sign with (test fixtures only; never real
# keys). Writes PKCS#8 private keys and the public keys as SPKI and PKCS#1 DER.
set -euo pipefail
out=${1:-crates/digest/tests/data}
mkdir -p "$out"
for name in signer other; do
  openssl genrsa -out "$out/$name.pem" 2048 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$out/$name.pem" -outform DER -out "$out/$name.pk8.der"
  openssl rsa -in "$out/$name.pem" -pubout -outform DER -out "$out/$name.spki.der" 2>/dev/null
  openssl rsa -in "$out/$name.pem" -RSAPublicKey_out -outform DER -out "$out/$name.pkcs1.der" 2>/dev/null
  openssl rsa -in "$out/$name.pem" -pubout -out "$out/$name.pub.pem" 2>/dev/null
  rm "$out/$name.pem"
done
