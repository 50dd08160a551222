# Noise schedules and samplers. The Python reference runs under ${MedGen_PYTHON} (numpy and torch); without it the
# test fails, never skips.
medgen_add_test(test_samplers test_samplers.c LABELS diffusion
                ARGS ${MedGen_PYTHON} ${PROJECT_SOURCE_DIR}/Testing/Python/sampler_reference.py
                     ${CMAKE_CURRENT_BINARY_DIR}/sampler_reference)
set_tests_properties(test_samplers PROPERTIES TIMEOUT 60)
