#!/usr/bin/env bash
# install-deps.sh [--build-only]: installs what MedGen needs to build, test and run its demo on Debian/Ubuntu;
# --build-only leaves out what only the tests and the GUI need (PyTorch, VTK and Qt are the large ones).
# Skips apt entirely when everything is already installed, so repeated runs take a second.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # compiler and build tools
  libopenblas-dev libcjson-dev        # BLAS for the CPU kernels, JSON for checkpoint metadata
  libpng-dev zlib1g-dev libjpeg-dev   # PNG in and out, .nii.gz in and out, JPEG training images
  libinsighttoolkit5-dev              # ITK 5.2: volumes in any format, the ITK filters
  mricron-data                        # the demo's brain MRI (Colin-27) and test volumes
)
if [ "${1:-}" != "--build-only" ]; then
  packages+=(
    python3-torch python3-numpy       # PyTorch reference tests
    python3-scipy                     # the evaluation metrics' reference (scipy.linalg.sqrtm, cdist)
    python3-nibabel                   # an independent NIfTI reader for the NIfTI writer's test
    python3-jsonschema                # validates medgen eval's JSON against its schema
    libxml2-utils                     # xmllint: the Slicer CLI modules' XML test
    libvtk9-dev qtbase5-dev           # VTK 9.1 and Qt 5.15: the GUI logic and widgets (MedGen_BUILD_GUI)
  )
fi

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all dependencies are installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}; run this script as root (sudo is not available)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
