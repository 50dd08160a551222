/* test_check.c: see test_check.h. */
#include "test_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int passed, failed;

bool tu_check(bool cond, const char *fmt, ...) {
  if (cond) {
    passed++;
    return true;
  }
  failed++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return false;
}

int tu_finish(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed || !passed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_skip(const char *why) {
  printf("SKIPPED: %s\n", why);
  return 77;
}

static uint64_t rng_state = 0x1234567u;

void tu_seed(uint64_t seed) { rng_state = seed; }

uint64_t tu_u64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double tu_uniform(double lo, double hi) { return lo + (hi - lo) * ((double)(tu_u64() >> 11) / 9007199254740992.0); }

char *tu_read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf) buf[fread(buf, 1, (size_t)n, f)] = '\0';
  fclose(f);
  return buf;
}
