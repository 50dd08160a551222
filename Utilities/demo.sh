#!/usr/bin/env bash
# demo.sh: installs dependencies (among them Debian's mricron-data, whose Colin-27 T1 brain MRI the demo learns
# from), builds the medgen tool (Release, into build/) and runs `medgen demo`: axial slices of the MRI, a small GAN
# trained on them for about four minutes on 2 cores (a progress line every 5% with the ETA), then 24 synthetic
# slices. Writes, in demo-output/: demo.png (real slices above synthetic ones), demo-synthetic.nii.gz
# (the synthetic slices, marked synthetic), demo.safetensors (the model) and demo-loss.csv.
# Extra arguments go to `medgen demo` (see: build/Tools/medgen/medgen demo --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash Utilities/install-deps.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMedGen_BUILD_GUI=OFF # the demo needs no GUI
cmake --build build -j"$(nproc)" --target medgen # the tests are not needed for the demo
build/Tools/medgen/medgen demo --out demo-output "$@"
echo
echo "The picture is $(pwd)/demo-output/demo.png"
