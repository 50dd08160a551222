#!/usr/bin/env bash
# test.sh: installs dependencies, builds MedGen into build/ and runs the whole test suite. Exits non-zero when
# the build or any test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash Utilities/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMedGen_BUILD_GUI=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2
