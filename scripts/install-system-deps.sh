#!/usr/bin/env bash
# Installs the Debian 12 packages gitlab-ha needs to build, test and run its lab.
# Idempotent: does nothing when every command is already present. Never starts the
# packaged services (a temporary policy-rc.d refuses it), so nothing listens on the
# ports the lab and the tests use.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [redis-server]=redis-server
  [redis-sentinel]=redis-sentinel
  [haproxy]=haproxy
  [pgbouncer]=pgbouncer
  [ruby]=ruby
  [dig]=bind9-dnsutils
  [curl]=curl
  [ip]=iproute2
  [sshd]=openssh-server
  [psql]=postgresql-client-15
  [nft]=nftables
  [python3.11]=python3.11
  [dnsperf]=dnsperf
  [unbound]=unbound
)
missing=()
for cmd in "${!need[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${need[$cmd]}")
  fi
done
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 2
fi

created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
