#!/usr/bin/env bash
# Installs the Debian 12 packages ember builds and tests with. Idempotent: packages already
# present are not fetched again, and apt is not touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  g++ clang libclang-rt-14-dev          # clang 14 with its sanitizer and libFuzzer runtimes
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pip python3-venv
  opencl-headers ocl-icd-opencl-dev pocl-opencl-icd
  libdnnl-dev libeigen3-dev
  g++-aarch64-linux-gnu qemu-user-static
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
