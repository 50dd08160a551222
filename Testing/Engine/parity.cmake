# PyTorch parity: torch_reference.py writes the fixture (a CTest fixture setup test), test_torch_parity runs every
# engine op and a UNet block on it. Both must run in CI: without python3-torch they fail, never skip.
set(MEDGEN_TORCH_FIXTURE ${CMAKE_CURRENT_BINARY_DIR}/torch_fixtures.safetensors)
if(MedGen_PYTHON)
  add_test(NAME torch_fixtures
           COMMAND ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/torch_reference.py
                   --out ${MEDGEN_TORCH_FIXTURE})
else()
  add_test(NAME torch_fixtures
           COMMAND sh -c "echo 'no python3 in /usr/bin: run the README test command, which installs python3-torch' >&2
                          exit 1")
endif()
set_tests_properties(torch_fixtures PROPERTIES FIXTURES_SETUP torch_fixtures LABELS "engine;parity" TIMEOUT 120)

medgen_add_test(test_torch_parity test_torch_parity.c LABELS parity ARGS ${MEDGEN_TORCH_FIXTURE})
set_tests_properties(test_torch_parity PROPERTIES FIXTURES_REQUIRED torch_fixtures TIMEOUT 60)
