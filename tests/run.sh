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
  libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

VENV=${SITESCOUT_TEST_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q ".[test]"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
