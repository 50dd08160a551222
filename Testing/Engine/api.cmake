# The public C API (medgen.h) alone: a diffusion model trained with progress and cancellation, bad inputs,
# deterministic denoising on 1 and 2 threads, saving. test_api.c includes only medgen.h; ARGS is its scratch folder.
medgen_add_test(test_api test_api.c LABELS api ARGS ${CMAKE_CURRENT_BINARY_DIR}/api_scratch)
set_tests_properties(test_api PROPERTIES TIMEOUT 60)
