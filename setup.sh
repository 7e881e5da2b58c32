#!/usr/bin/env bash
# The one install command for a fresh Debian/Ubuntu machine with Node 20: the system packages the product
# and its tests use, then `npm ci` (which also compiles the native kernels). CI runs exactly this.
#
#   ./setup.sh            install what is missing, then npm ci
#   ./setup.sh --check    only say what is missing (exit 1 if anything is)
#
# Installs with apt-get as root, or through sudo when that works without a password; otherwise it prints
# the one apt-get line to run and still runs npm ci, so the product works on tfjs's own kernels.
set -euo pipefail
cd "$(dirname "$0")"

# Why each package is needed (the tests say the same when one is missing):
#   chromium                        the UI end-to-end tests (headless, driven by playwright-core)
#   libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri
#                                   WebGPU on the CPU (Dawn on Mesa's software GLES driver) for the parity tests
#   libopenblas0-pthread            the native matrix products (cells/model/native)
#   gcc libc6-dev                   compiling that native addon
#   slurm-wlm munge                 the Slurm executor's tests (a one-node cluster they start and stop)
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
for p in libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri libopenblas0-pthread; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need+=(munge)

if [ "${1:-}" = "--check" ]; then
  if [ ${#need[@]} -gt 0 ]; then echo "missing: ${need[*]}"; exit 1; fi
  echo "all system packages present"; exit 0
fi

if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: this is not a Debian-like system; install the equivalents of: ${need[*]}" >&2
  else
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo); else as_root=(none); fi
    fi
    if [ "${as_root[*]:-}" = "none" ]; then
      echo "setup: cannot install system packages without root. Run:" >&2
      echo "  sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
      echo "setup: continuing with npm ci; the tests that need those packages will fail saying so." >&2
    else
      echo "setup: installing ${need[*]}"
      export DEBIAN_FRONTEND=noninteractive
      "${as_root[@]}" apt-get update -qq
      "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
  fi
fi

npm ci
