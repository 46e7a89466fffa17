#!/usr/bin/env bash
# System packages the test suite needs, on Debian 12 (bookworm), as root:
#   - nvcc is expected on the machine (CUDA kernels are compiled, not run, in tests)
#   - a software Vulkan driver for WebGPU (lavapipe, Mesa 25 from bookworm-backports:
#     Debian 12's own Mesa 22 gives Dawn no adapter)
#   - Debian's Chromium, for the WebGPU example page test (driven by playwright-core)
# The backports mirror is derived from the machine's existing Debian apt source, so no
# registry host is written here. Idempotent; a no-op when everything is present.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "system-deps: not root; skipping apt installs (tests needing lavapipe may fail)" >&2
  exit 0
fi

have_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^2[5-9]\.'; }

if ! have_lavapipe; then
  src=/etc/apt/sources.list.d/debian.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=""
    if [ -f "$src" ]; then
      # the URIs line of the stanza whose Suites include plain "bookworm"
      uri=$(awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i=="bookworm"){print u; exit}}' "$src")
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
      uri=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then echo "system-deps: no Debian bookworm apt source found to derive backports from" >&2; exit 1; fi
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      > /etc/apt/sources.list.d/gratc-backports.sources
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
fi
have_lavapipe || { echo "system-deps: lavapipe (mesa-vulkan-drivers >= 25) did not install" >&2; exit 1; }
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "system-deps: chromium did not install" >&2; exit 1; }
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "system-deps: nvcc not found" >&2; exit 1; }
echo "system-deps: ok (lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers), $(/usr/bin/chromium --version 2>/dev/null | head -1), nvcc present)"
