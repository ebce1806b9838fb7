#!/usr/bin/env bash
# Installs the Prometheus server (Debian package "prometheus") for tests/test_collectors_prometheus.py,
# only when the binary is missing. Idempotent and quiet; needs root (as CI runs).
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package may start a system service on :9090; the tests run their own server and need none.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus >/dev/null 2>&1 || true
fi
command -v prometheus >/dev/null || { echo "install-prometheus: prometheus still not on PATH" >&2; exit 1; }
