#!/usr/bin/env bash
# The README's second command: install everything the tests need (apt and pip), then run them.
# Run as root on Debian 12 from the repository root: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv iproute2 iputils-ping fping nmap arp-scan ieee-data
  gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-tools ffmpeg
  prometheus prometheus-blackbox-exporter chromium chromium-driver postgresql
  victoria-metrics prometheus-alertmanager
  libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils
  snmpd snmp lldpd
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # snmpd and lldpd run only inside lab namespaces, and Debian's victoria-metrics and prometheus-alertmanager
  # would start on 0.0.0.0: no package may start its daemon (lldpd would send LLDP on this machine's
  # interface). policy-rc.d 101 = "do not start"; the tests start what they need in namespaces or on 127.0.0.1.
  rc_guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && rc_guard=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -n "$rc_guard" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  if [ -d /run/systemd/system ]; then
    for unit in snmpd lldpd victoria-metrics prometheus-alertmanager; do
      if printf '%s\n' "${missing[@]}" | grep -qx "$unit"; then systemctl disable --now "$unit" 2>/dev/null || true; fi
    done
  fi
fi

VENV=${SITESCOUT_TEST_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q ".[test]"
# Lint and type check the checkout first (rules in pyproject.toml): either failing fails the run, as a test does.
# SITESCOUT_SKIP_LINT=1 skips them in a quick local loop; CI never sets it.
if [ "${SITESCOUT_SKIP_LINT:-}" != 1 ]; then
  "$VENV/bin/ruff" check .
  "$VENV/bin/mypy"
fi
# A test that fails is run once more before it counts as failed (pytest-rerunfailures): the lab tests share two
# cores with real servers, a browser and network namespaces, and one late packet must not sink a whole run.
# A rerun is never silent: it is marked R in the progress line and listed in the summary. Pass --reruns 0 to see
# every first failure (do that when hunting a flaky test).
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -rfER --reruns 1 --reruns-delay 2 "$@"
