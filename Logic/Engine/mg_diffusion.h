/* mg_diffusion.h: noise schedules and reverse-diffusion samplers, independent of the network.
 *
 * Discrete time t = 0 .. T-1. alpha_bar[t] = prod_{s<=t} (1 - beta[s]); a noisy image is
 * x_t = sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) eps. The network predicts eps, or
 * v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0.
 *
 * Samplers run on host arrays: each step asks a model callback for its prediction at one timestep for the whole
 * batch, then applies the update rule in double precision. (The UNet is where the time goes; the update of a
 * batch is a few vector operations, so moving it to the host costs nothing measurable and keeps the rules easy
 * to read and to check against references.) Reverse steps use "trailing" spacing: with N steps the timesteps are
 * round(T - k T / N) - 1 for k = 0 .. N-1 (ties to even, as numpy), so the first step starts from pure noise at
 * t = T-1. */
#ifndef MG_DIFFUSION_H
#define MG_DIFFUSION_H

#include "mg_engine.h"

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mg_schedule {
  int T;
  double *beta;      /* T values */
  double *alpha_bar; /* T values, decreasing */
} mg_schedule;

/* Linear: beta from beta_start to beta_end (as torch.linspace). Cosine (improved DDPM, s = 0.008): alpha_bar(t) =
 * f(t+1)/f(0) with f(u) = cos((u/T + s)/(1 + s) pi/2)^2, betas clipped to 0.999. MG_ERR_INVALID_ARGUMENT with a
 * message in err for T outside 10..10000 or betas outside (0, 1). */
mg_status mg_schedule_init(mg_schedule *s, mg_noise_schedule kind, int T, double beta_start, double beta_end,
                           char *err, size_t err_size);
void mg_schedule_free(mg_schedule *s);

/* Training target for prediction type p given x0, eps at timestep t, per element. */
static inline double mg_diffusion_target(const mg_schedule *s, mg_prediction p, int t, double x0, double eps) {
  double a = sqrt(s->alpha_bar[t]), b = sqrt(1.0 - s->alpha_bar[t]);
  return p == MG_PREDICT_V ? a * eps - b * x0 : eps;
}

/* The model: writes its prediction (eps or v) for the n images x (each `per` values) at timestep t into out.
 * Returns MG_OK or a failure status (then the sampler stops and returns it). */
typedef mg_status (*mg_model_fn)(void *user, const float *x, int n, int t, float *out);

typedef struct mg_sampling {
  mg_sampler sampler;
  int steps;       /* DDIM and DPM-Solver++: 1 to T; DDPM ignores it and takes all T */
  double eta;      /* DDIM only, >= 0 */
  bool clip_x0;    /* clamp predicted x0 to [-1, 1] at each step */
  uint64_t seed;
  int64_t first_index; /* global index of the batch's first image (its noise stream) */
} mg_sampling;

/* The reverse-step timesteps for N steps (trailing spacing, decreasing), into out[N]. */
void mg_diffusion_timesteps(int T, int N, int *out);

/* Gaussian noise for image first_index + i (i < n), draw `draw` (0 is the starting noise x_T, k >= 1 the noise
 * added by reverse step k): depends only on (seed, image index, draw), not on n or the batching. Uses ctx's
 * Philox stream (and rewinds its step arena); out holds n * per floats. */
mg_status mg_diffusion_noise(mg_ctx *ctx, uint64_t seed, int64_t first_index, int n, int per, int draw, float *out);

/* Runs the reverse process for n images of `per` values: fills x with the starting noise (draw 0), then applies
 * the sampler's steps, leaving the generated images (in the model's [-1, 1] scale, not clamped) in x.
 * progress (may be NULL): stage "sample", step k of total steps; non-zero cancels (MG_ERR_CANCELLED). Failures
 * leave a message in ctx. */
mg_status mg_diffusion_sample(mg_ctx *ctx, const mg_schedule *s, mg_prediction p, const mg_sampling *o, int n, int per,
                              mg_model_fn model, void *model_user, float *x, mg_progress_fn progress,
                              void *progress_user);

#ifdef __cplusplus
}
#endif
#endif
