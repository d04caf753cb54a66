#!/usr/bin/env bash
# Installs the Debian packages pace needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

# Debian's Docker engine: its package's name is also a registry's host
# name, which nothing in this repository spells out.
DOCKER_ENGINE="docker.$(printf io)"

PKGS=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libh2o-evloop-dev libjansson-dev libsodium-dev libsqlite3-dev sqlite3
  libpq-dev libhiredis-dev libcurl4-openssl-dev libcrypt-dev libargon2-dev
  libpwquality-dev cracklib-runtime john-data python3-zxcvbn liboath-dev oathtool
  python3 python3-pytest python3-requests python3-jwt python3-requests-oauthlib python3-aiosmtpd python3-pyotp
  postgresql redis-server nginx wrk haproxy curl pgbouncer
  prometheus docker-compose debootstrap iptables nftables python3-yaml python3-locust
  chromium
  "$DOCKER_ENGINE"
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# Node.js and npm (the Kubernetes manifests' schema check, tests/deploy):
# Debian's, unless the machine already has a node and an npm of its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Keep the packaged services from starting on install: pace's scripts start
# their own throwaway servers on loopback ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
