# Parity of every kernel backend with the CPU reference (test_backends.h): the strict test double (the CPU kernels
# behind disguised device pointers) always, the CUDA backend where this build has it and the machine a usable GPU.
add_library(medgen_test_backends STATIC test_backends.c)
target_link_libraries(medgen_test_backends PUBLIC medgen_test_util)

medgen_add_test(test_backend_ops test_backend_ops.c LABELS backends)
target_link_libraries(test_backend_ops PRIVATE medgen_test_backends)
