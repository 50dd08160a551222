/* test_check.h: pass/fail counting and seeded host random numbers for every test, with no engine dependency, so
 * tests that use only medgen.h (or only the checkpoint code, in the sanitizer build) share them too. Tests print
 * "N passed, N failed" and exit non-zero on any failure. */
#ifndef MG_TEST_CHECK_H
#define MG_TEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>

/* A context with the given CPU threads (0: all) through the public API; a test that cannot get one fails at once.
 * In test_context.c, which the sanitizer build of the checkpoint code leaves out. */
struct mg_ctx *tu_ctx(int threads);

/* Records one check; prints the message to stderr when it fails. Returns cond. */
bool tu_check(bool cond, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints the summary line and returns the process exit code (failure also when nothing was checked). */
int tu_finish(void);
/* Marks the whole test skipped (prints why) and returns the exit code CTest treats as skipped (77). */
int tu_skip(const char *why);

/* Deterministic host random numbers for test data (splitmix64), independent of the engine's Philox. */
void tu_seed(uint64_t seed);
uint64_t tu_u64(void);
double tu_uniform(double lo, double hi);

/* A whole file as a NUL-terminated string (malloc'ed; the caller frees), or NULL when it cannot be read: what the
 * reference tests read back from their Python side. */
char *tu_read_text(const char *path);

#endif
