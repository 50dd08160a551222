# Contexts used concurrently from several threads: each keeps its own kernel thread count, and every thread gets
# exactly the single-threaded results.
find_package(Threads REQUIRED)
medgen_add_test(test_contexts test_contexts.c LABELS threads)
target_link_libraries(test_contexts PRIVATE Threads::Threads)
# The test reads the CPU backend's thread count directly (mg_cpu_threads in cpu_kernels.h).
target_include_directories(test_contexts PRIVATE ${PROJECT_SOURCE_DIR}/Kernels/cpu)
