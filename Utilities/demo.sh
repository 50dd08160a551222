#!/usr/bin/env bash
# demo.sh: installs dependencies, builds MedGen (Release, into build/) and runs `medgen demo`, which trains a small
# diffusion model on a real brain MRI for about two minutes and writes demo-output/demo.png.
# Extra arguments go to `medgen demo` (see: build/Tools/medgen/medgen demo --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash Utilities/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
build/Tools/medgen/medgen demo --out demo-output "$@"
echo
echo "The picture is $(pwd)/demo-output/demo.png"
