/* cmd_demo.c: `medgen demo`: the engine end to end on a real brain MRI, in a few minutes on a laptop.
 *
 * Loads the Colin-27 T1 template (Debian's mricron-data), cuts axial slices through the head, resamples them to
 * 64x64 (aspect ratio kept, padded), and trains a small noise-predicting conv net, the denoiser at the heart of a
 * diffusion model: x_t = sqrt(abar)*x0 + sqrt(1-abar)*eps at a random noise level t, and the net, told t,
 * predicts eps. Writes a picture (clean slices, noisy inputs, the net's estimate of the clean slice, on slices
 * held out of training), the loss curve as CSV, and a checkpoint. */
#include "medgen_commands.h"
#include "mg_engine.h"
#include "mg_io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEMO_DEFAULT_DATA "/usr/share/mricron/templates/ch2.nii.gz"
enum {
  SIZE = 64,      /* slices are SIZE x SIZE */
  BATCH = 16,
  CH = 16,        /* channels at full resolution; 2*CH at 1/2 and 1/4 */
  GROUPS = 8,     /* GroupNorm groups */
  TEMB = 64,      /* timestep embedding width */
  SHOW = 8,       /* columns in the picture */
  HOLD_OUT = 10,  /* every HOLD_OUT-th slice is kept out of training, for the picture */
};

typedef struct demo_options {
  const char *data, *out;
  int steps, threads;
  uint64_t seed;
} demo_options;

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen demo [--data FILE] [--out DIR] [--steps N] [--threads N] [--seed S]\n"
          "\n"
          "Trains a small denoising network (the building block of a diffusion model) on axial slices of a real\n"
          "T1 brain MRI and writes DIR/demo.png: clean held-out slices, the same slices with noise added, and the\n"
          "network's estimate of the clean slice (marked synthetic in the PNG's metadata). Also writes\n"
          "DIR/demo-loss.csv (the loss per step) and DIR/demo.safetensors (the trained weights).\n"
          "\n"
          "Options:\n"
          "  --data FILE    NIfTI-1 volume (.nii or .nii.gz), default " DEMO_DEFAULT_DATA "\n"
          "                 (Colin-27, from Debian's mricron-data package)\n"
          "  --out DIR      output folder, created if needed (default: demo-output)\n"
          "  --steps N      training steps of %d slices each (default: 300, about two minutes on 2 cores)\n"
          "  --threads N    CPU threads (default: all cores); results are identical for any count\n"
          "  --seed S       random seed (default: 1)\n"
          "  -h, --help     show this help\n",
          BATCH);
}

/* ---- options ---- */
static bool parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* Returns 0 to run, 1 to exit successfully (help), 2 on a usage error (already reported). */
static int parse_options(int argc, char **argv, demo_options *o) {
  *o = (demo_options){DEMO_DEFAULT_DATA, "demo-output", 300, 0, 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      print_help(stdout);
      return 1;
    }
    const char *names[] = {"--data", "--out", "--steps", "--threads", "--seed"};
    int which = -1;
    for (int k = 0; k < 5; k++)
      if (!strcmp(a, names[k])) which = k;
    if (which < 0) {
      fprintf(stderr, "medgen demo: unknown option '%s' (try: medgen demo --help)\n", a);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "medgen demo: %s needs a value (try: medgen demo --help)\n", a);
      return 2;
    }
    const char *v = argv[++i];
    long n = 0;
    bool ok = true;
    switch (which) {
      case 0: o->data = v; break;
      case 1: o->out = v; break;
      case 2: ok = parse_int(v, 1, 1000000, &n); o->steps = (int)n; break;
      case 3: ok = parse_int(v, 1, 1024, &n); o->threads = (int)n; break;
      default: ok = parse_int(v, 0, 2147483647L, &n); o->seed = (uint64_t)n; break;
    }
    if (!ok) {
      fprintf(stderr, "medgen demo: invalid value '%s' for %s (try: medgen demo --help)\n", v, a);
      return 2;
    }
  }
  return 0;
}

/* ---- host-side random numbers for batch choice and noise levels (splitmix64; the engine's Philox makes the
 * noise itself) ---- */
static uint64_t host_rng;
static double host_uniform(void) {
  uint64_t z = (host_rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

/* ---- data: axial slices as SIZE x SIZE images in [-1, 1] ---- */
typedef struct slice_set {
  int count;
  float *pixels; /* count * SIZE * SIZE, row-major, anterior at the top */
} slice_set;

/* The q-quantile (0..1) of n values, to within (max-min)/4096: a histogram pass instead of a sort, since a
 * volume has millions of voxels and an intensity window needs no more precision than that. */
static float percentile(const float *v, int64_t n, double q) {
  enum { BINS = 4096 };
  static int64_t hist[BINS];
  float lo = v[0], hi = v[0];
  for (int64_t i = 1; i < n; i++) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  if (!(hi > lo)) return lo;
  memset(hist, 0, sizeof hist);
  double scale = (BINS - 1) / ((double)hi - lo);
  for (int64_t i = 0; i < n; i++) hist[(int)((v[i] - lo) * scale)]++;
  int64_t target = (int64_t)(q * (double)(n - 1)), seen = 0;
  for (int b = 0; b < BINS; b++) {
    seen += hist[b];
    if (seen > target) return (float)(lo + b / scale);
  }
  return hi;
}

/* Bilinear sample of slice z at voxel coordinates (x, y); `outside` beyond the volume. */
static float sample(const mg_volume *v, int z, double x, double y, float outside) {
  if (x < 0 || y < 0 || x > v->dim[0] - 1 || y > v->dim[1] - 1) return outside;
  int x0 = (int)x, y0 = (int)y;
  int x1 = x0 + 1 < v->dim[0] ? x0 + 1 : x0, y1 = y0 + 1 < v->dim[1] ? y0 + 1 : y0;
  double fx = x - x0, fy = y - y0;
  const float *s = v->data + (int64_t)z * v->dim[0] * v->dim[1];
  double top = s[y0 * v->dim[0] + x0] * (1 - fx) + s[y0 * v->dim[0] + x1] * fx;
  double bottom = s[y1 * v->dim[0] + x0] * (1 - fx) + s[y1 * v->dim[0] + x1] * fx;
  return (float)(top * (1 - fy) + bottom * fy);
}

/* Cuts the axial slices that cross the head, resamples each to SIZE x SIZE and normalizes intensities to
 * [-1, 1]. Every HOLD_OUT-th slice goes to `show` (never trained on), the rest to `train`. */
static bool extract_slices(const mg_volume *v, slice_set *train, slice_set *show, char *err, size_t err_size) {
  const int nx = v->dim[0], ny = v->dim[1], nz = v->dim[2];
  const int64_t nvox = (int64_t)nx * ny * nz;
  /* Foreground: above 10% of the robust maximum. A slice crosses the head when its foreground area is at least
   * 40% of the largest one, which drops the thin caps at the top and bottom. */
  float lo = percentile(v->data, nvox, 0.005), hi = percentile(v->data, nvox, 0.995);
  float threshold = lo + 0.1f * (hi - lo);
  if (!(hi > lo)) {
    snprintf(err, err_size, "the volume is constant (no contrast to learn from)");
    return false;
  }
  int *area = calloc((size_t)nz, sizeof *area);
  if (!area) {
    snprintf(err, err_size, "out of memory");
    return false;
  }
  int max_area = 0;
  int xmin = nx, xmax = -1, ymin = ny, ymax = -1;
  for (int z = 0; z < nz; z++) {
    const float *s = v->data + (int64_t)z * nx * ny;
    for (int i = 0; i < nx * ny; i++) area[z] += s[i] > threshold;
    if (area[z] > max_area) max_area = area[z];
  }
  int kept = 0;
  for (int z = 0; z < nz; z++) {
    if (area[z] < 0.4 * max_area || area[z] == 0) continue;
    kept++;
    const float *s = v->data + (int64_t)z * nx * ny;
    for (int y = 0; y < ny; y++)
      for (int x = 0; x < nx; x++)
        if (s[y * nx + x] > threshold) {
          if (x < xmin) xmin = x;
          if (x > xmax) xmax = x;
          if (y < ymin) ymin = y;
          if (y > ymax) ymax = y;
        }
  }
  if (kept < 2 * HOLD_OUT) {
    free(area);
    snprintf(err, err_size, "only %d axial slices cross the head; the demo needs at least %d", kept, 2 * HOLD_OUT);
    return false;
  }

  /* One square field of view for all slices, in millimetres, around the head's bounding box plus a margin:
   * the longer side fills the image and the shorter one is padded, so anatomy keeps its proportions. */
  double px = v->pixdim[0], py = v->pixdim[1];
  double width_mm = (xmax - xmin + 1) * px, height_mm = (ymax - ymin + 1) * py;
  double side_mm = 1.08 * (width_mm > height_mm ? width_mm : height_mm);
  double cx = 0.5 * (xmin + xmax), cy = 0.5 * (ymin + ymax);
  double step_x = side_mm / SIZE / px, step_y = side_mm / SIZE / py; /* voxels per output pixel */

  show->count = (kept + HOLD_OUT - 1 - HOLD_OUT / 2) / HOLD_OUT; /* k in [0, kept) with k % HOLD_OUT == HOLD_OUT/2 */
  train->count = kept - show->count;
  train->pixels = malloc((size_t)train->count * SIZE * SIZE * sizeof(float));
  show->pixels = malloc((size_t)show->count * SIZE * SIZE * sizeof(float));
  if (!train->pixels || !show->pixels) {
    free(area);
    snprintf(err, err_size, "out of memory");
    return false;
  }
  int n_train = 0, n_show = 0, k = 0;
  for (int z = 0; z < nz; z++) {
    if (area[z] < 0.4 * max_area || area[z] == 0) continue;
    float *dst = (k++ % HOLD_OUT == HOLD_OUT / 2) ? show->pixels + (size_t)n_show++ * SIZE * SIZE
                                                  : train->pixels + (size_t)n_train++ * SIZE * SIZE;
    /* Each output pixel averages 3x3 bilinear samples over its footprint: an anti-aliased downsampling. Rows run
     * from anterior (high y) at the top to posterior at the bottom. */
    for (int r = 0; r < SIZE; r++)
      for (int c = 0; c < SIZE; c++) {
        double acc = 0;
        for (int sy = 0; sy < 3; sy++)
          for (int sx = 0; sx < 3; sx++) {
            double x = cx + (c + (sx + 0.5) / 3.0 - 0.5 * SIZE) * step_x;
            double y = cy - (r + (sy + 0.5) / 3.0 - 0.5 * SIZE) * step_y;
            acc += sample(v, z, x, y, lo);
          }
        dst[r * SIZE + c] = (float)(acc / 9.0);
      }
  }
  free(area);

  /* Robust intensity window from the training slices: [0.5th, 99.5th percentile] -> [-1, 1], clamped. */
  int64_t n = (int64_t)train->count * SIZE * SIZE;
  float wlo = percentile(train->pixels, n, 0.005), whi = percentile(train->pixels, n, 0.995);
  if (!(whi > wlo)) whi = wlo + 1.0f;
  slice_set *sets[2] = {train, show};
  for (int s = 0; s < 2; s++)
    for (int64_t i = 0; i < (int64_t)sets[s]->count * SIZE * SIZE; i++) {
      float t = 2.0f * (sets[s]->pixels[i] - wlo) / (whi - wlo) - 1.0f;
      sets[s]->pixels[i] = t < -1.0f ? -1.0f : t > 1.0f ? 1.0f : t;
    }
  return true;
}

/* ---- noise schedule: the cosine schedule of improved DDPM, in continuous time t in [0, 1) ---- */
static double alpha_bar(double t) {
  const double s = 0.008;
  double c = cos((t + s) / (1 + s) * 1.5707963267948966); /* pi/2 */
  double a = c * c;
  return a < 1e-4 ? 1e-4 : a;
}

/* ---- the network: a two-level conv UNet predicting the noise, conditioned on t ----
 * Parameters are referred to by index so that the same forward code runs with the trained weights or with
 * their exponential moving average (the EMA weights, which give cleaner estimates). */
typedef struct conv_ix { int w, b; } conv_ix;
typedef struct norm_ix { int gamma, beta; } norm_ix;
typedef struct block_ix { norm_ix norm; conv_ix conv; conv_ix temb; } block_ix; /* GN, SiLU, conv, + t bias */

typedef struct denoiser {
  mg_params *params;
  const mg_ema *ema; /* non-NULL: run with the EMA weights */
  conv_ix temb1, temb2;  /* timestep embedding MLP */
  conv_ix conv_in;
  block_ix b1;           /* CH @64 (residual) */
  norm_ix down1_norm;
  conv_ix down1;         /* CH -> 2CH, stride 2 -> @32 */
  block_ix b2;           /* 2CH @32 (residual) */
  norm_ix down2_norm;
  conv_ix down2;         /* 2CH -> 2CH, stride 2 -> @16 */
  block_ix b3;           /* 2CH @16 (residual) */
  conv_ix up2;           /* upsample, 2CH -> 2CH @32 */
  block_ix b4;           /* concat with b2: 4CH -> 2CH @32 */
  conv_ix up1;           /* upsample, 2CH -> CH @64 */
  block_ix b5;           /* concat with b1: 2CH -> CH @64 */
  norm_ix out_norm;
  conv_ix conv_out;      /* CH -> 1 */
} denoiser;

static mg_tensor *W(const denoiser *m, int index) {
  return m->ema ? mg_ema_tensor(m->ema, index) : mg_params_at(m->params, index);
}

static int new_param(mg_ctx *ctx, denoiser *m, const char *name, int ndim, const int *shape) {
  int index = mg_params_count(m->params);
  if (!mg_param(m->params, name, ndim, shape)) mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "cannot create %s", name);
  return index;
}

static conv_ix new_conv(mg_ctx *ctx, denoiser *m, const char *name, int cin, int cout, int k) {
  char wn[96], bn[96];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  conv_ix c = {new_param(ctx, m, wn, 4, (int[]){cout, cin, k, k}), new_param(ctx, m, bn, 1, (int[]){cout})};
  if (mg_ok(ctx)) mg_init_default(ctx, mg_params_at(m->params, c.w), mg_params_at(m->params, c.b), cin * k * k);
  return c;
}

static conv_ix new_linear(mg_ctx *ctx, denoiser *m, const char *name, int in, int out) {
  char wn[96], bn[96];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  conv_ix c = {new_param(ctx, m, wn, 2, (int[]){out, in}), new_param(ctx, m, bn, 1, (int[]){out})};
  if (mg_ok(ctx)) mg_init_default(ctx, mg_params_at(m->params, c.w), mg_params_at(m->params, c.b), in);
  return c;
}

static norm_ix new_norm(mg_ctx *ctx, denoiser *m, const char *name, int channels) {
  char gn[96], bn[96];
  snprintf(gn, sizeof gn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  norm_ix n = {new_param(ctx, m, gn, 1, (int[]){channels}), new_param(ctx, m, bn, 1, (int[]){channels})};
  if (mg_ok(ctx)) mg_fill(ctx, mg_params_at(m->params, n.gamma), 1.0);
  return n;
}

static block_ix new_block(mg_ctx *ctx, denoiser *m, const char *name, int cin, int cout) {
  char nn[64], cn[64], tn[64];
  snprintf(nn, sizeof nn, "%s.norm", name);
  snprintf(cn, sizeof cn, "%s.conv", name);
  snprintf(tn, sizeof tn, "%s.temb", name);
  block_ix b = {new_norm(ctx, m, nn, cin), new_conv(ctx, m, cn, cin, cout, 3), new_linear(ctx, m, tn, TEMB, cout)};
  return b;
}

static void denoiser_init(mg_ctx *ctx, denoiser *m) {
  memset(m, 0, sizeof *m);
  m->params = mg_params_new(ctx);
  if (!m->params) return;
  m->temb1 = new_linear(ctx, m, "temb.0", TEMB, TEMB);
  m->temb2 = new_linear(ctx, m, "temb.1", TEMB, TEMB);
  m->conv_in = new_conv(ctx, m, "conv_in", 1, CH, 3);
  m->b1 = new_block(ctx, m, "down.0.block", CH, CH);
  m->down1_norm = new_norm(ctx, m, "down.0.norm", CH);
  m->down1 = new_conv(ctx, m, "down.0.downsample", CH, 2 * CH, 3);
  m->b2 = new_block(ctx, m, "down.1.block", 2 * CH, 2 * CH);
  m->down2_norm = new_norm(ctx, m, "down.1.norm", 2 * CH);
  m->down2 = new_conv(ctx, m, "down.1.downsample", 2 * CH, 2 * CH, 3);
  m->b3 = new_block(ctx, m, "mid.block", 2 * CH, 2 * CH);
  m->up2 = new_conv(ctx, m, "up.1.upsample", 2 * CH, 2 * CH, 3);
  m->b4 = new_block(ctx, m, "up.1.block", 4 * CH, 2 * CH);
  m->up1 = new_conv(ctx, m, "up.0.upsample", 2 * CH, CH, 3);
  m->b5 = new_block(ctx, m, "up.0.block", 2 * CH, CH);
  m->out_norm = new_norm(ctx, m, "out.norm", CH);
  m->conv_out = new_conv(ctx, m, "out.conv", CH, 1, 3);
}

static mg_tensor *conv(mg_ctx *ctx, const denoiser *m, conv_ix c, mg_tensor *x, int stride) {
  return mg_conv2d(ctx, x, W(m, c.w), W(m, c.b), stride, 1);
}

static mg_tensor *norm_silu(mg_ctx *ctx, const denoiser *m, norm_ix n, mg_tensor *x) {
  return mg_silu(ctx, mg_group_norm(ctx, x, GROUPS, W(m, n.gamma), W(m, n.beta), 1e-5));
}

/* x [B,cin,h,w], temb [B,TEMB] -> conv(silu(gn(x))) + a per-channel bias computed from t: [B,cout,h,w] */
static mg_tensor *block(mg_ctx *ctx, const denoiser *m, block_ix b, mg_tensor *x, mg_tensor *temb) {
  mg_tensor *h = conv(ctx, m, b.conv, norm_silu(ctx, m, b.norm, x), 1);
  mg_tensor *bias = mg_linear(ctx, temb, W(m, b.temb.w), W(m, b.temb.b));
  if (!h || !bias) return NULL;
  return mg_add(ctx, h, mg_reshape(ctx, bias, 4, (int[]){h->shape[0], h->shape[1], 1, 1}));
}

/* xt [B,1,SIZE,SIZE], t [B] in [0,1) -> predicted noise [B,1,SIZE,SIZE] */
static mg_tensor *denoiser_forward(mg_ctx *ctx, const denoiser *m, mg_tensor *xt, mg_tensor *t) {
  mg_tensor *temb = mg_timestep_embedding(ctx, mg_scale(ctx, t, 1000.0), TEMB, 10000.0);
  temb = mg_silu(ctx, mg_linear(ctx, temb, W(m, m->temb1.w), W(m, m->temb1.b)));
  temb = mg_linear(ctx, temb, W(m, m->temb2.w), W(m, m->temb2.b));

  mg_tensor *h0 = conv(ctx, m, m->conv_in, xt, 1);
  mg_tensor *h1 = mg_add(ctx, h0, block(ctx, m, m->b1, h0, temb));                        /* [B,CH,64,64] */
  mg_tensor *d1 = conv(ctx, m, m->down1, norm_silu(ctx, m, m->down1_norm, h1), 2);        /* [B,2CH,32,32] */
  mg_tensor *h2 = mg_add(ctx, d1, block(ctx, m, m->b2, d1, temb));
  mg_tensor *d2 = conv(ctx, m, m->down2, norm_silu(ctx, m, m->down2_norm, h2), 2);        /* [B,2CH,16,16] */
  mg_tensor *h3 = mg_add(ctx, d2, block(ctx, m, m->b3, d2, temb));
  mg_tensor *u2 = conv(ctx, m, m->up2, mg_upsample_nearest2x(ctx, h3), 1);               /* [B,2CH,32,32] */
  mg_tensor *h4 = block(ctx, m, m->b4, mg_concat(ctx, u2, h2), temb);
  mg_tensor *u1 = conv(ctx, m, m->up1, mg_upsample_nearest2x(ctx, h4), 1);               /* [B,CH,64,64] */
  mg_tensor *h5 = block(ctx, m, m->b5, mg_concat(ctx, u1, h1), temb);
  return conv(ctx, m, m->conv_out, norm_silu(ctx, m, m->out_norm, h5), 1);              /* [B,1,64,64] */
}

/* ---- one noisy batch: x0 [B,1,S,S] (host), noise levels t[B] -> xt, eps, t tensors on the step arena ---- */
typedef struct noisy_batch {
  mg_tensor *x0, *xt, *eps, *t;
} noisy_batch;

static noisy_batch make_noisy(mg_ctx *ctx, const float *x0_host, const float *t_host, int n) {
  noisy_batch b = {0};
  float a[BATCH > SHOW ? BATCH : SHOW], s[BATCH > SHOW ? BATCH : SHOW];
  for (int i = 0; i < n; i++) {
    double ab = alpha_bar(t_host[i]);
    a[i] = (float)sqrt(ab);
    s[i] = (float)sqrt(1 - ab);
  }
  b.x0 = mg_tensor_4d(ctx, n, 1, SIZE, SIZE);
  b.eps = mg_tensor_4d(ctx, n, 1, SIZE, SIZE);
  b.t = mg_tensor_new(ctx, MG_REAL, 1, (int[]){n});
  mg_tensor *ta = mg_tensor_4d(ctx, n, 1, 1, 1), *ts = mg_tensor_4d(ctx, n, 1, 1, 1);
  if (!b.x0 || !b.eps || !b.t || !ta || !ts) return b;
  mg_tensor_upload(ctx, b.x0, x0_host, b.x0->numel);
  mg_tensor_upload(ctx, b.t, t_host, n);
  mg_tensor_upload(ctx, ta, a, n);
  mg_tensor_upload(ctx, ts, s, n);
  mg_fill_normal(ctx, b.eps, 0.0, 1.0);
  b.xt = mg_add(ctx, mg_mul(ctx, b.x0, ta), mg_mul(ctx, b.eps, ts));
  return b;
}

/* ---- output helpers ---- */
static uint8_t to_byte(float v) { /* [-1,1] -> [0,255] */
  float p = (v + 1.0f) * 127.5f + 0.5f;
  return (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p);
}

static bool make_dir(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return false;
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0777) && errno != EEXIST) return false;
      *p = '/';
    }
  return !mkdir(buf, 0777) || errno == EEXIST;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t n) {
  int t = (int)(s + 0.5);
  if (t >= 60) snprintf(buf, n, "%dm%02ds", t / 60, t % 60);
  else snprintf(buf, n, "%ds", t);
}

static double psnr(const float *a, const float *b, int n) { /* peak-to-peak 2 for images in [-1,1] */
  double se = 0;
  for (int i = 0; i < n; i++) se += (double)(a[i] - b[i]) * (a[i] - b[i]);
  return 10 * log10(4.0 / (se / n + 1e-12));
}

/* The picture: three rows of SHOW slices (clean, noisy, denoised), each slice scaled 2x, 4-pixel gaps. */
static mg_status write_grid(const char *path, const float *rows[3], char *err, size_t err_size) {
  enum { SCALE = 2, GAP = 4, CELL = SIZE * SCALE };
  const int width = SHOW * CELL + (SHOW + 1) * GAP, height = 3 * CELL + 4 * GAP;
  uint8_t *img = malloc((size_t)width * height);
  if (!img) {
    snprintf(err, err_size, "%s: out of memory", path);
    return MG_ERR_OUT_OF_MEMORY;
  }
  memset(img, 0, (size_t)width * height);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < SHOW; c++)
      for (int y = 0; y < CELL; y++)
        for (int x = 0; x < CELL; x++)
          img[(size_t)(GAP + r * (CELL + GAP) + y) * width + GAP + c * (CELL + GAP) + x] =
              to_byte(rows[r][(size_t)c * SIZE * SIZE + (y / SCALE) * SIZE + x / SCALE]);
  /* the denoised row is generated by a network: the whole picture is marked synthetic */
  mg_status st = mg_png_write(path, img, width, height, true, err, err_size);
  free(img);
  return st;
}

/* ---- the command ---- */
typedef struct demo_state {
  mg_ctx *ctx;
  mg_volume volume;
  slice_set train, show;
  denoiser model;
  mg_adam *opt;
  mg_ema *ema;
  char *csv;
  size_t csv_len, csv_cap;
} demo_state;

static void demo_free(demo_state *s) {
  free(s->train.pixels);
  free(s->show.pixels);
  free(s->csv);
  mg_volume_free(&s->volume);
  if (s->ctx) mg_context_free(s->ctx);
}

static bool csv_append(demo_state *s, const char *line) {
  size_t n = strlen(line);
  if (s->csv_len + n + 1 > s->csv_cap) {
    size_t cap = s->csv_cap ? 2 * s->csv_cap : 1 << 16;
    while (cap < s->csv_len + n + 1) cap *= 2;
    char *p = realloc(s->csv, cap);
    if (!p) return false;
    s->csv = p;
    s->csv_cap = cap;
  }
  memcpy(s->csv + s->csv_len, line, n + 1);
  s->csv_len += n;
  return true;
}

static int fail_ctx(demo_state *s, const char *what) {
  fprintf(stderr, "medgen demo: %s: %s\n", what, mg_context_error(s->ctx));
  demo_free(s);
  return 1;
}

/* Writes the checkpoint: weights, EMA weights, optimizer state, the random stream and what the demo was. */
static mg_status save_checkpoint(demo_state *s, const demo_options *o, const char *path, int steps, char *err,
                                 size_t err_size) {
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  if (!w) {
    snprintf(err, err_size, "%s: out of memory", path);
    return MG_ERR_OUT_OF_MEMORY;
  }
  char config[256], step[32], seed[32];
  snprintf(config, sizeof config,
           "{\"model\":\"demo_denoiser\",\"image_size\":%d,\"channels\":%d,\"groups\":%d,\"temb\":%d,"
           "\"prediction\":\"epsilon\",\"schedule\":\"cosine\"}",
           SIZE, CH, GROUPS, TEMB);
  snprintf(step, sizeof step, "%d", steps);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
  mg_ctx *ctx = s->ctx;
  mg_checkpoint_add_params(ctx, w, "model.", s->model.params);
  mg_checkpoint_add_ema(ctx, w, "ema.", s->model.params, s->ema);
  mg_checkpoint_add_adam(ctx, w, "optim.", s->model.params, s->opt);
  mg_checkpoint_add_rng(ctx, w);
  mg_checkpoint_writer_add_metadata(w, "medgen.version", MEDGEN_VERSION_STRING);
  mg_checkpoint_writer_add_metadata(w, "medgen.command", "demo");
  mg_checkpoint_writer_add_metadata(w, "model.config", config);
  mg_checkpoint_writer_add_metadata(w, "step", step);
  mg_checkpoint_writer_add_metadata(w, "seed", seed);
  mg_checkpoint_writer_add_metadata(w, "data", o->data);
  mg_status st;
  if (!mg_ok(ctx)) {
    snprintf(err, err_size, "%s: %s", path, mg_context_error(ctx));
    st = mg_ctx_status(ctx);
  } else {
    st = mg_checkpoint_writer_save(w, path, err, err_size);
  }
  mg_checkpoint_writer_free(w);
  return st;
}

int medgen_cmd_demo(int argc, char **argv) {
  demo_options o;
  int parsed = parse_options(argc, argv, &o);
  if (parsed) return parsed == 1 ? 0 : 2;

  demo_state s = {0};
  char err[6144]; /* room for a long output path plus the message */
  struct stat st_data;
  if (stat(o.data, &st_data) != 0) {
    if (!strcmp(o.data, DEMO_DEFAULT_DATA))
      fprintf(stderr,
              "medgen demo: %s not found: the demo's brain MRI (Colin-27) comes from Debian's mricron-data "
              "package; install it with `sudo apt-get install mricron-data`, or pass --data FILE.nii.gz\n",
              o.data);
    else
      fprintf(stderr, "medgen demo: %s: %s\n", o.data, strerror(errno));
    return 1;
  }

  if (!make_dir(o.out)) {
    fprintf(stderr, "medgen demo: cannot create the output folder %s: %s\n", o.out, strerror(errno));
    return 1;
  }

  /* data */
  double t_start = now_s();
  if (mg_nifti_read(o.data, &s.volume, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    return 1;
  }
  if (!extract_slices(&s.volume, &s.train, &s.show, err, sizeof err)) {
    fprintf(stderr, "medgen demo: %s: %s\n", o.data, err);
    demo_free(&s);
    return 1;
  }
  printf("medgen demo: %s: %dx%dx%d voxels of %.2gx%.2gx%.2g mm; %d axial slices at %dx%d for training, %d held "
         "out for the picture\n",
         o.data, s.volume.dim[0], s.volume.dim[1], s.volume.dim[2], s.volume.pixdim[0], s.volume.pixdim[1],
         s.volume.pixdim[2], s.train.count, SIZE, SIZE, s.show.count);
  mg_volume_free(&s.volume);

  /* engine, model, optimizer */
  mg_context_options copt = {MG_DEVICE_CPU, o.threads};
  if (mg_context_create(&copt, &s.ctx, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: cannot start the engine: %s\n", err);
    demo_free(&s);
    return 1;
  }
  mg_ctx *ctx = s.ctx;
  mg_rng_seed(ctx, o.seed);
  host_rng = o.seed * 0x2545f4914f6cdd1dull + 1;
  denoiser_init(ctx, &s.model);
  if (!mg_ok(ctx)) return fail_ctx(&s, "building the network");
  mg_adam_config acfg = {4e-3, 0.9, 0.999, 1e-8, 1e-4, true};
  s.opt = mg_adam_new(ctx, s.model.params, acfg);
  s.ema = mg_ema_new(ctx, s.model.params);
  if (!s.opt || !s.ema || !mg_ok(ctx)) return fail_ctx(&s, "setting up the optimizer");
  printf("medgen demo: denoising UNet with %lld parameters, %d threads, %d steps of %d slices\n",
         (long long)mg_params_numel(s.model.params), mg_context_threads(ctx), o.steps, BATCH);
  csv_append(&s, "step,loss,lr,grad_norm,seconds\n");

  /* training */
  const int warmup = o.steps / 10 < 50 ? o.steps / 10 : 50;
  const int report_every = o.steps / 20 > 0 ? o.steps / 20 : 1;
  float x0[BATCH * SIZE * SIZE], t_host[BATCH];
  double t_train = now_s(), t_report = t_train, loss_sum = 0;
  int loss_count = 0;
  for (int step = 0; step < o.steps; step++) {
    mg_step_begin(ctx);
    for (int i = 0; i < BATCH; i++) {
      int k = (int)(host_uniform() * s.train.count);
      bool flip = host_uniform() < 0.5; /* left-right flips: a brain is nearly symmetric */
      const float *src = s.train.pixels + (size_t)k * SIZE * SIZE;
      for (int y = 0; y < SIZE; y++)
        for (int x = 0; x < SIZE; x++)
          x0[(i * SIZE + y) * SIZE + x] = src[y * SIZE + (flip ? SIZE - 1 - x : x)];
      t_host[i] = (float)host_uniform();
    }
    noisy_batch b = make_noisy(ctx, x0, t_host, BATCH);
    mg_tensor *pred = denoiser_forward(ctx, &s.model, b.xt, b.t);
    mg_tensor *loss = mg_mse_loss(ctx, pred, b.eps);
    mg_zero_grad(ctx, s.model.params);
    mg_backward(ctx, loss);
    double grad_norm = 0;
    double clip = mg_clip_factor(ctx, s.model.params, 1.0, &grad_norm);
    double lr = mg_lr_schedule(step + 1, warmup, o.steps, acfg.lr, acfg.lr * 0.05);
    mg_adam_step(s.opt, lr, clip);
    mg_ema_update(s.ema, mg_ema_decay(step + 1, 0.999, 1.0, 0.75));
    double loss_value = mg_ok(ctx) ? mg_tensor_item(ctx, loss) : NAN;
    if (!mg_ok(ctx)) {
      if (mg_ctx_status(ctx) == MG_ERR_NUMERIC)
        fprintf(stderr, "medgen demo: training diverged at step %d (%s); try another --seed\n", step + 1,
                mg_context_error(ctx));
      else
        fprintf(stderr, "medgen demo: step %d failed: %s\n", step + 1, mg_context_error(ctx));
      demo_free(&s);
      return 1;
    }
    if (!isfinite(loss_value)) {
      fprintf(stderr, "medgen demo: training diverged at step %d (the loss is %g); try another --seed\n", step + 1,
              loss_value);
      demo_free(&s);
      return 1;
    }
    double now = now_s();
    char line[160];
    snprintf(line, sizeof line, "%d,%.6g,%.6g,%.6g,%.3f\n", step + 1, loss_value, lr, grad_norm, now - t_train);
    csv_append(&s, line);
    loss_sum += loss_value;
    loss_count++;
    if ((step + 1) % report_every == 0 || step + 1 == o.steps || step == 0) {
      double rate = (step == 0 ? BATCH : loss_count * BATCH) / (now - (step == 0 ? t_train : t_report));
      char eta[32];
      format_duration((o.steps - step - 1) * (now - t_train) / (step + 1), eta, sizeof eta);
      printf("step %5d/%d  loss %.4f  lr %.2e  %6.1f images/s  ETA %s\n", step + 1, o.steps, loss_sum / loss_count,
             lr, rate, eta);
      fflush(stdout);
      t_report = now;
      loss_sum = 0;
      loss_count = 0;
    }
  }

  /* the picture: held-out slices at rising noise levels, denoised with the EMA weights */
  mg_step_begin(ctx);
  bool grad = mg_set_grad_enabled(ctx, false);
  float clean[SHOW * SIZE * SIZE], noisy[SHOW * SIZE * SIZE], denoised[SHOW * SIZE * SIZE], t_show[SHOW];
  float eps_hat[SHOW * SIZE * SIZE], eps[SHOW * SIZE * SIZE];
  for (int c = 0; c < SHOW; c++) {
    int k = (int)((c + 0.5) * s.show.count / SHOW);
    memcpy(clean + (size_t)c * SIZE * SIZE, s.show.pixels + (size_t)k * SIZE * SIZE, SIZE * SIZE * sizeof(float));
    t_show[c] = (float)(0.08 + 0.37 * c / (SHOW - 1)); /* noise std from 0.14 to 0.87 of the signal */
  }
  noisy_batch b = make_noisy(ctx, clean, t_show, SHOW);
  s.model.ema = s.ema;
  mg_tensor *pred = denoiser_forward(ctx, &s.model, b.xt, b.t);
  s.model.ema = NULL;
  mg_tensor_download(ctx, pred, eps_hat, SHOW * SIZE * SIZE);
  mg_tensor_download(ctx, b.eps, eps, SHOW * SIZE * SIZE);
  mg_set_grad_enabled(ctx, grad);
  if (!mg_ok(ctx)) return fail_ctx(&s, "denoising the held-out slices");
  double psnr_noisy = 0, psnr_denoised = 0;
  for (int c = 0; c < SHOW; c++) {
    /* x0 = (xt - sqrt(1-abar) eps) / sqrt(abar); the noisy row is shown on the same scale, xt / sqrt(abar) */
    double ab = alpha_bar(t_show[c]), a = sqrt(ab), sd = sqrt(1 - ab);
    for (int i = 0; i < SIZE * SIZE; i++) {
      size_t j = (size_t)c * SIZE * SIZE + i;
      float xt = (float)(a * clean[j] + sd * eps[j]);
      noisy[j] = (float)(xt / a);
      float est = (float)((xt - sd * eps_hat[j]) / a);
      denoised[j] = est < -1.0f ? -1.0f : est > 1.0f ? 1.0f : est;
    }
    psnr_noisy += psnr(noisy + (size_t)c * SIZE * SIZE, clean + (size_t)c * SIZE * SIZE, SIZE * SIZE) / SHOW;
    psnr_denoised += psnr(denoised + (size_t)c * SIZE * SIZE, clean + (size_t)c * SIZE * SIZE, SIZE * SIZE) / SHOW;
  }

  /* outputs */
  char path_png[4096], path_csv[4096], path_ckpt[4096];
  snprintf(path_png, sizeof path_png, "%s/demo.png", o.out);
  snprintf(path_csv, sizeof path_csv, "%s/demo-loss.csv", o.out);
  snprintf(path_ckpt, sizeof path_ckpt, "%s/demo.safetensors", o.out);
  const float *rows[3] = {clean, noisy, denoised};
  if (write_grid(path_png, rows, err, sizeof err) != MG_OK ||
      mg_file_write_atomic(path_csv, s.csv, s.csv_len, err, sizeof err) != MG_OK ||
      save_checkpoint(&s, &o, path_ckpt, o.steps, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    demo_free(&s);
    return 1;
  }
  char total[32];
  format_duration(now_s() - t_start, total, sizeof total);
  printf("medgen demo: on %d held-out slices, PSNR noisy %.1f dB -> denoised %.1f dB (mean over noise levels)\n",
         SHOW, psnr_noisy, psnr_denoised);
  printf("medgen demo: done in %s.\n"
         "  %s: held-out slices (top), with noise added (middle), the network's estimate (bottom);\n"
         "    marked synthetic in its PNG metadata\n"
         "  %s: the loss at each step\n"
         "  %s: the trained weights (see: medgen info %s)\n",
         total, path_png, path_csv, path_ckpt, path_ckpt);
  demo_free(&s);
  return 0;
}
