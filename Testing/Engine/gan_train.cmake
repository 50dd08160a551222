# GANs through the public API (gan.c): training, exact resume, standing statistics, sampling determinism,
# truncation, ADA, divergence and errors.
medgen_add_test(test_gan test_gan.c LABELS "training;gan")
set_tests_properties(test_gan PROPERTIES TIMEOUT 120)
