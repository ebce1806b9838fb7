#!/usr/bin/env bash
# Installs headless Chromium (Debian package "chromium") for tests/test_report.py, only when it is
# missing. Idempotent and quiet; needs root (as CI runs).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null || { echo "install-chromium: chromium still not on PATH" >&2; exit 1; }
