#!/usr/bin/env bash
# Installs what the dashboard's browser tests drive: Debian's Chromium and its WebDriver
# (packages chromium and chromium-driver). Does nothing when both are there already.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing chromium and chromium-driver for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q chromium chromium-driver >/dev/null; then
  # Stale package lists on a fresh machine: refresh them once and retry.
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q chromium chromium-driver >/dev/null
fi
