#!/usr/bin/env bash
# Build the MedSeg Linux bundle (PyInstaller, one folder) and its Debian package, then run the
# bundle's self-test under Xvfb and print the bundle size and the time to the first window.
#
# Usage (from a clone, on Debian/Ubuntu with Python 3.10-3.12):   bash packaging/build_linux.sh
#
# Outputs: packaging/dist/medseg/ (the bundle: medseg-app, medseg, _internal/)
#          packaging/dist/medseg_<version>_<arch>.deb
# The build environment (packaging/build/venv) holds the CPU-only PyTorch build and only the
# app's dependencies, so that nothing else ends up in the bundle. Environment variables:
#   PYTHON            interpreter for the build environment (default python3; needs its shared libpython)
#   MEDSEG_TORCH      the PyTorch requirement (default torch==2.13.0+cpu, the CPU build of this machine)
#   MEDSEG_DEB_COMPRESSION  zstd (default: 18 s here; Debian 12+, Ubuntu 21.10+) or xz (any dpkg; smaller,
#                     at best, but 30+ minutes on 2 busy cores)
#   MEDSEG_TORCH_INDEX  where CPU builds of PyTorch are found (default https://download.pytorch.org/whl/cpu;
#                     skipped when unreachable, then pip's configured indexes must have it)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
build=packaging/build
dist=packaging/dist
venv=$build/venv
python=${PYTHON:-python3}
torch_req=${MEDSEG_TORCH:-torch==2.13.0+cpu}
torch_index=${MEDSEG_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
compression=${MEDSEG_DEB_COMPRESSION:-zstd}
say() { printf '==> %s\n' "$*"; }

# -- 1. system tools: Xvfb and the OpenGL/XCB libraries (as tools/setup.sh), dpkg-deb, binutils;
#       PyInstaller also needs the shared libpython, a separate package for Debian's own Python
apt_packages="xvfb xauth libgl1 libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
  libxcb-xfixes0 libdbus-1-3 libfontconfig1 binutils dpkg-dev"
if [ "$("$python" -c 'import sys; print(sys.prefix)')" = /usr ]; then
  apt_packages="$apt_packages libpython$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
fi
if command -v apt-get >/dev/null 2>&1 && ! dpkg-query -W $apt_packages >/dev/null 2>&1; then
  say "installing system packages"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $apt_packages >/dev/null
fi

# -- 2. the build environment: CPU PyTorch, MedSeg (not editable) with the GUI, PyInstaller
mkdir -p "$build" "$dist"
if [ ! -x "$venv/bin/python" ]; then
  say "creating the build environment $venv"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.version.cuda is not None)" 2>/dev/null; then
  say "installing $torch_req"
  index_args=()
  if "$venv/bin/python" -c "import urllib.request as u, sys; u.urlopen(sys.argv[1], timeout=5)" "$torch_index/" 2>/dev/null; then
    index_args=(--extra-index-url "$torch_index")
  fi
  "$venv/bin/python" -m pip install -q "${index_args[@]}" "$torch_req"
fi
say "installing MedSeg into the build environment"
"$venv/bin/python" -m pip install -q --upgrade ".[gui,bundle]"
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps .  # this checkout's code, even at the same version
"$venv/bin/python" -c "import torch, sys; sys.exit('the build environment has a CUDA PyTorch' if torch.version.cuda else 0)"
version=$("$venv/bin/python" -c "import medseg_core; print(medseg_core.__version__)")

# -- 3. the bundle
say "PyInstaller (log: $build/pyinstaller.log)"
rm -rf "$dist/medseg"
# run from the build folder: from the repository root, ./medseg_core (without its resources) would
# shadow the installed package
if ! (cd "$build" && venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN --distpath ../dist \
    --workpath pyinstaller ../medseg.spec) >"$build/pyinstaller.log" 2>&1; then
  tail -n 30 "$build/pyinstaller.log"
  echo "PyInstaller failed; see $build/pyinstaller.log" >&2
  exit 1
fi
bundle=$dist/medseg
cuda=$(find "$bundle" \( -iname 'libcuda*' -o -iname 'libcublas*' -o -iname 'libcudnn*' -o -iname 'libnccl*' \
  -o -iname 'libtorch_cuda*' -o -path '*/_internal/nvidia/*' -o -path '*/_internal/triton/*' \) -print -quit)
if [ -n "$cuda" ]; then
  echo "the bundle contains CUDA libraries ($cuda); build it from a CPU PyTorch" >&2
  exit 1
fi

# -- 4. self-test of the bundle under a virtual X server
say "self-test of the bundle"
"$bundle/medseg" --version
MEDSEG_LAUNCH_TIME=$(date +%s.%N) xvfb-run -a -s "-screen 0 1920x1080x24" "$bundle/medseg-app" --self-test \
  | tee "$build/self-test.log"

# -- 5. the Debian package: /opt/medseg, commands on the PATH, desktop entry, icons, MIME types
say "Debian package"
arch=$(dpkg --print-architecture)
stage=$build/deb/medseg_${version}_${arch}
rm -rf "$stage"
mkdir -p "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" "$stage/usr/share/mime/packages" \
  "$stage/usr/share/doc/medseg" "$stage/DEBIAN"
cp -a "$bundle" "$stage/opt/medseg"
ln -s /opt/medseg/medseg-app "$stage/usr/bin/medseg-app"
ln -s /opt/medseg/medseg "$stage/usr/bin/medseg"
install -m 644 packaging/linux/medseg.desktop "$stage/usr/share/applications/medseg.desktop"
install -m 644 packaging/linux/medseg-mime.xml "$stage/usr/share/mime/packages/medseg.xml"
for png in resources/icons/medseg-*.png; do
  size=$(basename "$png" .png); size=${size#medseg-}
  install -D -m 644 "$png" "$stage/usr/share/icons/hicolor/${size}x${size}/apps/medseg.png"
done
install -D -m 644 resources/icons/medseg.svg "$stage/usr/share/icons/hicolor/scalable/apps/medseg.svg"
install -m 644 LICENSE "$stage/usr/share/doc/medseg/copyright"
install -m 755 packaging/linux/postinst packaging/linux/postrm "$stage/DEBIAN/"
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$installed_kb/" \
  packaging/linux/control.in >"$stage/DEBIAN/control"
deb=$dist/medseg_${version}_${arch}.deb
dpkg-deb --root-owner-group "-Z$compression" --build "$stage" "$deb" >/dev/null
dpkg-deb --info "$deb" >/dev/null

# -- 6. summary
say "summary"
echo "bundle:            $bundle ($(du -sh "$bundle" | cut -f1), $(find "$bundle" -type f | wc -l) files)"
echo "largest parts:     $(du -sm "$bundle"/_internal/* | sort -rn | head -n 4 | awk '{printf "%s %s MB; ", $2, $1}' | sed "s#$bundle/_internal/##g")"
echo "Debian package:    $deb ($(du -h "$deb" | cut -f1))"
grep -h "window shown" "$build/self-test.log" | sed 's/^self-test: /time to first window: /'
echo "build time:        $(( $(date +%s) - started )) s"
