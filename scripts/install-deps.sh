#!/usr/bin/env bash
# Installs Kindred's build and test dependencies from Debian packages.
# Idempotent: packages already present are left alone, and apt is only
# consulted when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  librocksdb-dev
  libprotobuf-dev protobuf-compiler
  libboost-dev
  libsodium-dev
  libjemalloc-dev
  libabsl-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libcli11-dev
  libical-dev
  nlohmann-json3-dev
  tmux
  tzdata
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "kindred: installing missing packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
