#!/usr/bin/env bash
# Installs tqf's build and test dependencies from Debian 12's packages.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config
  flatbuffers-compiler libflatbuffers-dev
  libxxhash-dev libzstd-dev zstd
  libboost-dev
  libcurl4-openssl-dev nginx-light openssl
  libomp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev
  python3-dev python3-pybind11 pybind11-dev python3-numpy python3-pytest python3-matplotlib
)
# npm (and git) fetch and unpack llama.cpp, the peer the interop tests run
# against (scripts/llamacpp.sh); a Node.js that already brings npm is kept.
command -v npm >/dev/null || pkgs+=(nodejs npm)
command -v git >/dev/null || pkgs+=(git)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
