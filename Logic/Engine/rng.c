/* rng.c: the context's random stream. Philox is counter-based: (seed, offset) fully determines what comes next,
 * so saving both in a checkpoint resumes the stream exactly, on any device and thread count. */
#include "mg_internal.h"

#include <math.h>

void mg_rng_seed(mg_ctx *ctx, uint64_t seed) {
  ctx->rng_seed = seed;
  ctx->rng_offset = 0;
}
uint64_t mg_rng_seed_value(const mg_ctx *ctx) { return ctx->rng_seed; }
uint64_t mg_rng_offset(const mg_ctx *ctx) { return ctx->rng_offset; }
void mg_rng_set_offset(mg_ctx *ctx, uint64_t offset) { ctx->rng_offset = offset; }

static mg_status check_real(mg_ctx *ctx, const mg_tensor *t, const char *what) {
  if (!mg_ok(ctx)) return ctx->status;
  if (!t || t->dtype != MG_REAL) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s needs a real tensor", what);
  return MG_OK;
}

mg_status mg_fill_normal(mg_ctx *ctx, mg_tensor *t, double mean, double std) {
  mg_status s = check_real(ctx, t, "mg_fill_normal");
  if (s != MG_OK) return s;
  ctx->k->rand_normal(t->numel, ctx->rng_seed, ctx->rng_offset, (mg_real)mean, (mg_real)std, MG_DATA(t));
  ctx->rng_offset += (uint64_t)(t->numel + 3) / 4;
  return MG_OK;
}

mg_status mg_fill_uniform(mg_ctx *ctx, mg_tensor *t, double lo, double hi) {
  mg_status s = check_real(ctx, t, "mg_fill_uniform");
  if (s != MG_OK) return s;
  ctx->k->rand_uniform(t->numel, ctx->rng_seed, ctx->rng_offset, (mg_real)lo, (mg_real)hi, MG_DATA(t));
  ctx->rng_offset += (uint64_t)(t->numel + 3) / 4;
  return MG_OK;
}

mg_status mg_fill(mg_ctx *ctx, mg_tensor *t, double value) {
  mg_status s = check_real(ctx, t, "mg_fill");
  if (s == MG_OK) ctx->k->fill(t->numel, (mg_real)value, MG_DATA(t));
  return s;
}

mg_status mg_init_default(mg_ctx *ctx, mg_tensor *weight, mg_tensor *bias, int fan_in) {
  if (fan_in <= 0) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "fan_in must be positive");
  double bound = 1.0 / sqrt((double)fan_in);
  mg_status s = mg_fill_uniform(ctx, weight, -bound, bound);
  if (s == MG_OK && bias) s = mg_fill_uniform(ctx, bias, -bound, bound);
  return s;
}

uint64_t mg_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double mg_host_uniform(uint64_t *state) {
  return (double)(mg_mix64(*state += 0x9e3779b97f4a7c15ull) >> 11) / 9007199254740992.0; /* 53 bits */
}
