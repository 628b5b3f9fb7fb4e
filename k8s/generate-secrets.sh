#!/usr/bin/env bash
# Writes the env files the example overlay's secretGenerator reads (never committed:
# k8s/.gitignore):
#   server.env      OPAL_AUTH_MASTER_TOKEN, OPAL_AUTH_PRIVATE_KEY, OPAL_AUTH_PUBLIC_KEY
#   client.env      OPAL_CLIENT_TOKEN  (a JWT of peer type "client", for the agents)
#   datasource.env  OPAL_CLIENT_TOKEN  (a JWT of peer type "datasource", for publishers)
#
# How: a 2048-bit RSA key pair (openssl), a master token (`opal-server generate-secret`), then an
# `opal-server run` on 127.0.0.1 (port 0, --port-file) with those keys and that token, from which
# `opal-client obtain-token` mints the two JWTs; the server is stopped at the end. The JWTs carry
# the default audience and issuer: keep auth.jwt_audience / jwt_issuer at their defaults in the
# server ConfigMap, or mint tokens with the same values.
#
# Keys go in the env files on one line, newlines written as '_' (OPAL's convention, which
# opal-server reads back). Nothing secret is printed: only file names. Files are mode 0600.
#
# Idempotent-ish: when all three files exist they are kept (exit 0); --force makes a new set
# (every token changes with the keys). A partial set is always replaced whole.
#
# Usage: k8s/generate-secrets.sh [--out-dir DIR] [--bin-dir DIR] [--ttl "365 days"] [--force]
#   --out-dir  where to write (default: k8s/overlays/example/secrets)
#   --bin-dir  where opal-server and opal-client are (default: PATH, e.g. a build directory)
#   --ttl      lifetime of the JWTs, "N" seconds or "N UNIT" (default: 365 days)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out_dir="$here/overlays/example/secrets"
bin_dir=""
ttl="365 days"
force=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "generate-secrets: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --out-dir) [ $# -ge 2 ] || die "--out-dir needs a value"; out_dir=$2; shift 2 ;;
    --out-dir=*) out_dir=${1#*=}; shift ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a value"; bin_dir=$2; shift 2 ;;
    --bin-dir=*) bin_dir=${1#*=}; shift ;;
    --ttl) [ $# -ge 2 ] || die "--ttl needs a value"; ttl=$2; shift 2 ;;
    --ttl=*) ttl=${1#*=}; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument (see --help)" ;;  # never echoed: it could be a secret
  esac
done

find_bin() {  # name -> path
  if [ -n "$bin_dir" ]; then
    [ -x "$bin_dir/$1" ] || die "$1 not found in --bin-dir $bin_dir"
    echo "$bin_dir/$1"
  else
    command -v "$1" || die "$1 not on PATH: pass --bin-dir (e.g. your build directory)"
  fi
}
server_bin=$(find_bin opal-server)
client_bin=$(find_bin opal-client)
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

files=(server.env client.env datasource.env)
if [ "$force" = 0 ]; then
  complete=1
  for f in "${files[@]}"; do [ -s "$out_dir/$f" ] || complete=0; done
  if [ "$complete" = 1 ]; then
    echo "generate-secrets: $out_dir already holds ${files[*]}; kept (--force makes new ones)"
    exit 0
  fi
fi

umask 077
mkdir -p "$out_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/pdl-secrets.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Keys and master token.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/private.pem" 2>/dev/null \
  || die "openssl genpkey failed"
openssl pkey -in "$work/private.pem" -pubout -out "$work/public.pem" 2>/dev/null \
  || die "openssl pkey -pubout failed"
master=$("$server_bin" generate-secret) || die "opal-server generate-secret failed"
[ -n "$master" ] || die "opal-server generate-secret printed nothing"

# 2. A throwaway server on loopback with those keys, to mint the JWTs. A clean environment, so
#    no OPAL_* variable of the caller (a broadcast URI, a config) changes what it does.
env -i PATH="$PATH" HOME="$work" \
  OPAL_AUTH_MASTER_TOKEN="$master" \
  OPAL_AUTH_PRIVATE_KEY="$work/private.pem" \
  OPAL_AUTH_PUBLIC_KEY="$work/public.pem" \
  "$server_bin" run --host 127.0.0.1 --port 0 --port-file "$work/port" >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$(( $(date +%s) + 20 ))
while [ ! -s "$work/port" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    server_pid=""
    echo "generate-secrets: opal-server exited early; its log:" >&2
    tail -n 20 "$work/server.log" >&2
    exit 1
  fi
  [ "$(date +%s)" -lt "$deadline" ] || die "opal-server did not start within 20 s"
  sleep 0.1
done
url="http://127.0.0.1:$(cat "$work/port")"

mint() {  # peer type -> JWT on stdout; the master token goes by environment, not argv
  read -r -a ttl_words <<<"$ttl"
  OPAL_MASTER_TOKEN="$master" "$client_bin" obtain-token --uri "$url" --type "$1" \
    --ttl "${ttl_words[@]}" </dev/null 2>"$work/obtain.err" \
    || { echo "generate-secrets: obtain-token --type $1 failed:" >&2
         cat "$work/obtain.err" >&2; exit 1; }
}
client_token=$(mint client)
datasource_token=$(mint datasource)

# 3. The env files, each written whole then renamed into place.
one_line() {  # PEM file -> one line, newlines as '_'
  grep -q _ "$1" && die "unexpected '_' in a PEM file"
  tr '\n' '_' <"$1" | sed 's/_$//'
}
write_env() {  # file, then lines
  local f=$1; shift
  printf '%s\n' "$@" >"$out_dir/.$f.tmp"
  mv -f "$out_dir/.$f.tmp" "$out_dir/$f"
}
write_env server.env \
  "OPAL_AUTH_MASTER_TOKEN=$master" \
  "OPAL_AUTH_PRIVATE_KEY=$(one_line "$work/private.pem")" \
  "OPAL_AUTH_PUBLIC_KEY=$(one_line "$work/public.pem")"
write_env client.env "OPAL_CLIENT_TOKEN=$client_token"
write_env datasource.env "OPAL_CLIENT_TOKEN=$datasource_token"

echo "generate-secrets: wrote ${files[*]} in $out_dir"
