# The device API (test_device: names, resolving cpu/cuda/auto, contexts refusing an unusable GPU, a backend's kept
# failure reaching the caller as MG_ERR_DEVICE) and whole models on the test backends against the CPU
# (test_backend_models: unet-s and dcgan-64 forward, training, sampling and checkpoints on strict, and on cuda where
# a GPU is usable). Both hold on builds with and without the CUDA backend.
medgen_add_test(test_device test_device.c LABELS backends)
set_tests_properties(test_device PROPERTIES TIMEOUT 60)
medgen_add_test(test_backend_models test_backend_models.c LABELS backends)
# medgen_test_backends (test_backends.c) is defined in backends.cmake, which is included after this file: CMake
# resolves the name when it generates the build.
target_link_libraries(test_backend_models PRIVATE medgen_test_backends)
set_tests_properties(test_backend_models PROPERTIES TIMEOUT 120)
