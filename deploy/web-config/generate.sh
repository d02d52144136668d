#!/bin/sh
# The access setup of deploy/docker-compose.yml, made once into DIR (the svmon-access volume):
#   ca.pem           a throwaway CA; Prometheus trusts it (tls_config.ca_file)
#   server.crt/.key  svmon's certificate (svmon, localhost, 127.0.0.1) and its key
#   scrape-password  a random password; Prometheus sends it (basic_auth.password_file)
#   web-config.yml   EXAMPLE with the bcrypt hash of that password for the user prometheus
# A DIR that already holds web-config.yml is left alone, so certificates and password survive
# restarts; delete the volume to make new ones. Needs openssl and a Python with bcrypt (svmon's image).
#
#   generate.sh [DIR [EXAMPLE [KEY_OWNER]]]    KEY_OWNER: uid:gid to own server.key (run as root)
set -eu

dir=${1:-/access}
example=${2:-$(dirname "$0")/web-config.yml}
key_owner=${3:-}
python=${PYTHON:-python3}

if [ -s "$dir/web-config.yml" ]; then
  echo "access setup: $dir/web-config.yml exists, kept"
  exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# An openssl configuration of our own, so that the certificates do not depend on the system's.
cat >"$work/openssl.cnf" <<'CONFIG'
[req]
distinguished_name = name
prompt = no
[name]
CN = svmon
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:svmon, DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CONFIG
openssl req -config "$work/openssl.cnf" -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -nodes -days 3650 -subj "/CN=svmon compose CA" -extensions ca \
  -keyout "$work/ca.key" -out "$work/ca.pem"
openssl req -config "$work/openssl.cnf" -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -nodes -subj "/CN=svmon" -keyout "$work/server.key" -out "$work/server.csr"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$work/openssl.cnf" -extensions server \
  -out "$work/server.crt"

# The password goes to a file, never to a command line or a log; only its hash is in the config.
"$python" - "$example" "$work" <<'PYTHON'
import pathlib, re, secrets, sys

import bcrypt

example, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
password = secrets.token_urlsafe(24)
hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
text, users = re.subn(r"(?m)^(  prometheus: ).*$", lambda line: line.group(1) + hashed, example.read_text())
if users != 1:
    sys.exit(f"access setup: {example} has no basic_auth_users line for prometheus to fill in")
(work / "scrape-password").write_text(password)
(work / "web-config.yml").write_text(text)
PYTHON

# Everything readable by Prometheus (another uid) but the key, which only svmon reads. web-config.yml
# comes last: it marks the setup as done.
install -m 0644 "$work/ca.pem" "$work/server.crt" "$work/scrape-password" "$dir/"
install -m 0400 "$work/server.key" "$dir/"
if [ -n "$key_owner" ]; then
  chown "$key_owner" "$dir/server.key"
fi
install -m 0644 "$work/web-config.yml" "$dir/"
echo "access setup: made $dir (CA, certificate for svmon, scrape password, web-config.yml)"
