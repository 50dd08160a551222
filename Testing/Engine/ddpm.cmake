# Diffusion models through the public API (ddpm.c): resume equals uninterrupted, same seed same samples, errors.
medgen_add_test(test_ddpm test_ddpm.c LABELS training)
set_tests_properties(test_ddpm PROPERTIES TIMEOUT 120)
