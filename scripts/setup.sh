#!/usr/bin/env bash
# Installs what dsv4 needs on a Debian machine: Debian packages (only the missing ones) and the
# pinned PyPI wheels the tests use (into a project-local virtual environment, .venv/).
# Nothing is downloaded from anywhere else. Safe to run again: it does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake pkg-config git python3 python3-venv python3-pip
  nlohmann-json3-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libpcre2-dev libcpp-httplib-dev
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "[setup] need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python side (pinned wheels only), used by the tokenizer tests and the tokenizer download.
if [ -x scripts/setup_python.sh ]; then
  scripts/setup_python.sh
fi
echo "[setup] ok"
