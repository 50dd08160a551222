/* mg_philox.h: the Philox4x32-10 counter-based random number generator (Salmon, Moraes, Dror and Shaw, "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011) and the conversions MedGen builds on it. Plain C, MG_HD, so the
 * CPU kernels and (later) the CUDA kernels produce the same bits.
 *
 * Why counter-based: a value is a pure function of (key, counter), so any element of a stream can be computed
 * on its own, by any thread, on any device. That is what makes fills bit-identical for every thread count and
 * lets a checkpoint resume the stream from (seed, offset) alone.
 *
 * Stream layout (the contract of rand_normal/rand_uniform in mg_kernels.h):
 *   key     = {seed & 0xffffffff, seed >> 32}
 *   element i of a fill starting at block `offset` uses block b = offset + i/4:
 *   counter = {b & 0xffffffff, b >> 32, 0, 0}, and lane i%4 of the 4 output words.
 * A fill of n elements consumes ceil(n/4) blocks; the unused lanes of a last partial block are dropped.
 *
 * Conversions (24 random bits each, so every value is exact in float and both the float and the double build
 * see the same numbers):
 *   mg_philox_uniform_open0:  (0,1]  = ((x >> 8) + 1) * 2^-24   never 0: safe under log()
 *   mg_philox_uniform_open1:  [0,1)  = (x >> 8) * 2^-24         the uniform fills use this one
 * Normals: Box-Muller on lane pairs (0,1) and (2,3): u1 from the even lane in (0,1], u2 from the odd lane in
 * [0,1), r = sqrt(-2 ln u1); the even lane gets r*cos(2 pi u2) and the odd lane r*sin(2 pi u2). Each element
 * therefore depends only on its own block, not on its neighbours in the fill. Computed in float (fast on every
 * GPU); the 24-bit u1 bounds |z| by sqrt(-2 ln 2^-24) ~ 5.77.
 */
#ifndef MG_PHILOX_H
#define MG_PHILOX_H

#include "mg_kernels.h"

#include <math.h>
#include <stdint.h>

#define MG_PHILOX_M0 0xD2511F53u /* round multipliers */
#define MG_PHILOX_M1 0xCD9E8D57u
#define MG_PHILOX_W0 0x9E3779B9u /* Weyl key increments: golden ratio and sqrt(3)-1, as 32-bit fractions */
#define MG_PHILOX_W1 0xBB67AE85u

/* One Philox round: two 32x32->64 multiplies, the high halves mixed with the other words and the key. */
static inline MG_HD void mg_philox_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  uint64_t p0 = (uint64_t)MG_PHILOX_M0 * c[0];
  uint64_t p1 = (uint64_t)MG_PHILOX_M1 * c[2];
  uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

/* Philox4x32-10: out = f(counter, key). 10 rounds; the key is bumped by the Weyl constants between rounds. */
static inline MG_HD void mg_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]};
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += MG_PHILOX_W0;
      k1 += MG_PHILOX_W1;
    }
    mg_philox_round(c, k0, k1);
  }
  out[0] = c[0];
  out[1] = c[1];
  out[2] = c[2];
  out[3] = c[3];
}

/* The 4 words of stream block `block` for `seed` (the layout above). */
static inline MG_HD void mg_philox_block(uint64_t seed, uint64_t block, uint32_t out[4]) {
  uint32_t counter[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0u, 0u};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  mg_philox4x32_10(counter, key, out);
}

/* (0,1]: never returns 0. */
static inline MG_HD float mg_philox_uniform_open0(uint32_t x) {
  return (float)((x >> 8) + 1u) * (1.0f / 16777216.0f);
}

/* [0,1): never returns 1. */
static inline MG_HD float mg_philox_uniform_open1(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* Standard normal for lane `lane` of a block's words w[4] (Box-Muller pairs (0,1) and (2,3)). */
static inline MG_HD float mg_philox_normal_lane(const uint32_t w[4], int lane) {
  int even = lane & ~1;
  float u1 = mg_philox_uniform_open0(w[even]);
  float u2 = mg_philox_uniform_open1(w[even + 1]);
  float r = sqrtf(-2.0f * logf(u1));
  float theta = 6.2831853071795864769f * u2;
  return (lane & 1) ? r * sinf(theta) : r * cosf(theta);
}

#endif
