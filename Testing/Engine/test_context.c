/* test_context.c: tu_ctx (test_check.h), on the public API only: tests that use only medgen.h share it too. */
#include "medgen.h"
#include "test_check.h"

#include <stdio.h>
#include <stdlib.h>

mg_ctx *tu_ctx(int threads) {
  mg_ctx *ctx = NULL;
  char err[256];
  mg_context_options opt = {.device = MG_DEVICE_CPU, .threads = threads};
  if (mg_context_create(&opt, &ctx, err, sizeof err) != MG_OK) {
    fprintf(stderr, "FAIL: cannot create a context: %s\n", err);
    exit(EXIT_FAILURE);
  }
  return ctx;
}
