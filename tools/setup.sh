#!/usr/bin/env bash
# Install MedSeg into ./.venv, with the system libraries napari needs.
# Usage: bash tools/setup.sh [gui|test|bench]   (default: test, which includes the GUI)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-test}"

apt_packages="xvfb xauth libgl1 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
  libxcb-xfixes0 libdbus-1-3 libfontconfig1"
if command -v apt-get >/dev/null 2>&1; then
  missing=$(dpkg-query -W -f='${Package} ${Status}\n' $apt_packages 2>/dev/null | grep -vc "install ok installed" || true)
  if ! dpkg-query -W $apt_packages >/dev/null 2>&1 || [ "$missing" != "0" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $apt_packages >/dev/null
  fi
else
  echo "note: not a Debian/Ubuntu system; install an OpenGL driver and Xvfb yourself" >&2
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The exact PyTorch build of these machines (pyproject.toml only bounds it, as a library should).
.venv/bin/python -m pip install -q "torch==2.14.1"
.venv/bin/python -m pip install -q -e ".[$extra]"
echo "MedSeg installed in $(pwd)/.venv"
