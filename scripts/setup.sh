#!/usr/bin/env bash
# Installs everything sparq needs to build, test and benchmark, from Debian bookworm packages only.
# Idempotent: packages already present are skipped by apt-get. ocl-icd-opencl-dev is only a
# Recommends of libdnnl-dev, but Debian's dnnl-config.cmake requires OpenCL (built with the OCL GPU
# runtime), so find_package(dnnl) fails without it on a machine that installs no recommends.
set -euo pipefail
PKGS=(cmake ninja-build g++ pkg-config
      libdnnl-dev ocl-icd-opencl-dev libxbyak-dev nlohmann-json3-dev libutf8proc-dev libcli11-dev libcpp-httplib-dev
      libsentencepiece-dev python3-sentencepiece libre2-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      python3 python3-dev python3-numpy python3-torch pybind11-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all build dependencies present" >&2
