/* cmd_demo.c: `medgen demo`: the engine end to end on a real brain MRI, in a few minutes on a laptop.
 *
 * Loads the Colin-27 T1 template (Debian's mricron-data), cuts axial slices through the head, resamples them to
 * 64x64 (aspect ratio kept, padded), and trains a small diffusion model (medgen.h, mg_ddpm_*): a UNet that learns
 * to predict the noise added to a slice. Writes its checkpoint, then shows what it learned with the EMA weights
 * read back from that checkpoint: slices held out of training, noised, and the model's estimate of the clean
 * slice from one network evaluation (mg_ddpm_denoise). Also writes the loss curve as CSV. Ctrl-C cancels through
 * the progress callback and writes nothing. Uses only medgen.h and mg_io.h. */
#include "medgen.h"
#include "cli_util.h"
#include "medgen_commands.h"
#include "mg_io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_DEFAULT_DATA "/usr/share/mricron/templates/ch2.nii.gz"
enum {
  SIZE = 64,      /* slices are SIZE x SIZE */
  BATCH = 16,
  SHOW = 8,       /* columns in the picture */
  HOLD_OUT = 10,  /* every HOLD_OUT-th slice is kept out of training, for the picture */
};

/* A UNet small enough to train in about two minutes on 2 cores: 8, 16 and 32 channels at 64, 32 and 16 pixels,
 * attention only at 16x16 and in the middle. (Full resolution dominates the cost: 16 channels there take 1.6x as
 * long.) */
static const mg_unet_config DEMO_UNET = {
    .image_size = SIZE, .in_channels = 1, .base_channels = 8, .levels = 3, .channel_mult = {1, 2, 4},
    .res_blocks = 1, .attention = {0, 0, 1}, .mid_attention = 1, .head_channels = 32, .groups = 4,
    .temb_channels = 64, .dropout = 0, .num_classes = 0};
/* A short run needs a much higher learning rate than the library's default (1e-4 over 10000 steps). */
#define DEMO_LEARNING_RATE 4e-3
#define DEMO_WARMUP_STEPS 30

/* The picture's noise levels: timesteps of the default linear schedule (T = 1000, betas 1e-4 to 0.02) whose noise,
 * on the clean image's scale, has standard deviation sqrt((1 - abar) / abar) from 0.14 to 0.87. */
static const int SHOW_TIMESTEPS[SHOW] = {38, 64, 91, 118, 145, 173, 202, 231};

typedef struct demo_options {
  const char *data, *out;
  int steps, threads;
  uint64_t seed;
} demo_options;

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen demo [--data FILE] [--out DIR] [--steps N] [--threads N] [--seed S]\n"
          "\n"
          "Trains a small diffusion model (a DDPM: a UNet that learns to predict the noise added to an image) on\n"
          "axial slices of a real T1 brain MRI and writes DIR/demo.png: clean held-out slices, the same slices with\n"
          "noise added, and the model's estimate of the clean slice in one step, with its EMA weights (marked\n"
          "synthetic in the PNG's metadata). Also writes DIR/demo-loss.csv (the loss per step) and\n"
          "DIR/demo.safetensors (the model's checkpoint: medgen info and medgen sample read it). Ctrl-C stops the\n"
          "training and writes nothing.\n"
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
      case 2: ok = cli_parse_long(v, 1, 1000000, &n); o->steps = (int)n; break;
      case 3: ok = cli_parse_long(v, 1, 1024, &n); o->threads = (int)n; break;
      default: ok = cli_parse_long(v, 0, 2147483647L, &n); o->seed = (uint64_t)n; break;
    }
    if (!ok) {
      fprintf(stderr, "medgen demo: invalid value '%s' for %s (try: medgen demo --help)\n", v, a);
      return 2;
    }
  }
  return 0;
}


/* ---- data: axial slices as SIZE x SIZE images in [-1, 1] ---- */
typedef struct slice_set {
  int count;
  float *pixels;          /* count * SIZE * SIZE, row-major, anterior at the top */
  float window_lo, window_hi; /* source intensities mapped to -1 and 1 */
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
  train->window_lo = show->window_lo = wlo;
  train->window_hi = show->window_hi = whi;
  slice_set *sets[2] = {train, show};
  for (int s = 0; s < 2; s++)
    for (int64_t i = 0; i < (int64_t)sets[s]->count * SIZE * SIZE; i++) {
      float t = 2.0f * (sets[s]->pixels[i] - wlo) / (whi - wlo) - 1.0f;
      sets[s]->pixels[i] = t < -1.0f ? -1.0f : t > 1.0f ? 1.0f : t;
    }
  return true;
}


/* ---- output helpers ---- */
static uint8_t to_byte(float v) { /* [-1,1] -> [0,255] */
  float p = (v + 1.0f) * 127.5f + 0.5f;
  return (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p);
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
  mg_ddpm *model, *ema_model; /* the trained model; its EMA weights read back from the checkpoint */
  mg_checkpoint *ckpt;
  cli_text log;
} demo_state;

static int demo_finish(demo_state *s, int code) {
  mg_ddpm_free(s->model);
  mg_ddpm_free(s->ema_model);
  mg_checkpoint_free(s->ckpt);
  free(s->train.pixels);
  free(s->show.pixels);
  cli_text_free(&s->log);
  mg_volume_free(&s->volume);
  mg_context_free(s->ctx);
  return code;
}

int medgen_cmd_demo(int argc, char **argv) {
  demo_options o;
  int parsed = parse_options(argc, argv, &o);
  if (parsed) return parsed == 1 ? 0 : 2;

  demo_state s = {0};
  char err[6144]; /* room for a long output path plus the message */
  struct stat st;
  if (stat(o.data, &st) != 0) {
    if (!strcmp(o.data, DEMO_DEFAULT_DATA))
      fprintf(stderr,
              "medgen demo: %s not found: the demo's brain MRI (Colin-27) comes from Debian's mricron-data "
              "package; install it with `sudo apt-get install mricron-data`, or pass --data FILE.nii.gz\n",
              o.data);
    else
      fprintf(stderr, "medgen demo: %s: %s\n", o.data, strerror(errno));
    return 1;
  }

  /* The folder is made now, so a bad path fails before minutes of training; if training is cancelled and the
   * folder is new, it is removed again (its parents, if made, stay). */
  bool out_existed = stat(o.out, &st) == 0;
  if (!cli_make_dir(o.out)) {
    fprintf(stderr, "medgen demo: cannot create the output folder %s: %s\n", o.out, strerror(errno));
    return 1;
  }

  /* data */
  double t_start = cli_now_s();
  if (mg_nifti_read(o.data, &s.volume, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    return demo_finish(&s, 1);
  }
  if (!extract_slices(&s.volume, &s.train, &s.show, err, sizeof err)) {
    fprintf(stderr, "medgen demo: %s: %s\n", o.data, err);
    return demo_finish(&s, 1);
  }
  printf("medgen demo: %s: %dx%dx%d voxels of %.2gx%.2gx%.2g mm; %d axial slices at %dx%d for training, %d held "
         "out for the picture\n",
         o.data, s.volume.dim[0], s.volume.dim[1], s.volume.dim[2], s.volume.pixdim[0], s.volume.pixdim[1],
         s.volume.pixdim[2], s.train.count, SIZE, SIZE, s.show.count);
  mg_volume_free(&s.volume);
  /* the model keeps the window as original = value * scale + offset, so samples come out in the scanner's units */
  double norm_scale = 0.5 * ((double)s.train.window_hi - s.train.window_lo);
  mg_dataset data = {.count = s.train.count, .channels = 1, .size = SIZE, .images = s.train.pixels,
                     .norm_offset = s.train.window_lo + norm_scale, .norm_scale = norm_scale};

  /* the model */
  mg_context_options copt = {MG_DEVICE_CPU, o.threads};
  if (mg_context_create(&copt, &s.ctx, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: cannot start the engine: %s\n", err);
    return demo_finish(&s, 1);
  }
  mg_ddpm_config cfg; /* the default schedule (linear, T = 1000) and epsilon prediction, around the demo's UNet */
  if (mg_ddpm_default_config("unet-s", &cfg, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    return demo_finish(&s, 1);
  }
  cfg.unet = DEMO_UNET;
  mg_ddpm_train_options topt = mg_ddpm_default_train_options();
  topt.batch = BATCH;
  topt.steps = o.steps;
  topt.learning_rate = DEMO_LEARNING_RATE;
  topt.warmup_steps = o.steps / 10 < DEMO_WARMUP_STEPS ? o.steps / 10 : DEMO_WARMUP_STEPS;
  topt.ema_decay = 0.999;
  topt.flip_horizontal = 1; /* a brain is nearly symmetric left-right */
  topt.seed = o.seed;
  topt.checkpoint_every = 0; /* one checkpoint, written at the end with the picture */
  if (mg_ddpm_create(s.ctx, &cfg, &topt, &s.model) != MG_OK || mg_ddpm_set_note(s.model, "run.command", "demo") ||
      mg_ddpm_set_note(s.model, "run.data", o.data) ||
      mg_ddpm_set_note(s.model, "run.normalization", "percentile window [0.5, 99.5] of the training slices")) {
    fprintf(stderr, "medgen demo: %s\n", mg_context_error(s.ctx));
    return demo_finish(&s, 1);
  }

  /* training */
  printf("medgen demo: training a small diffusion model (a UNet of %lld parameters) on %d threads, %d steps of %d "
         "slices\n",
         (long long)mg_ddpm_parameter_count(s.model), mg_context_threads(s.ctx), o.steps, BATCH);
  cli_text_append(&s.log, "step,loss,seconds\n");
  cli_train_progress progress = {.batch = BATCH, .report_every = o.steps / 20 > 0 ? o.steps / 20 : 1, .log = &s.log};
  cli_catch_interrupt(); /* Ctrl-C asks the engine to stop after the current step */
  mg_status trained = mg_ddpm_train(s.model, &data, cli_on_train_progress, &progress);
  cli_release_interrupt();
  if (trained == MG_ERR_CANCELLED) {
    if (!out_existed) rmdir(o.out); /* only if empty: nothing of ours is in it yet */
    fprintf(stderr, "medgen demo: interrupted; nothing written\n");
    return demo_finish(&s, 1);
  }
  if (trained != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", mg_context_error(s.ctx));
    return demo_finish(&s, 1);
  }
  if (s.log.failed) {
    fprintf(stderr, "medgen demo: out of memory recording the loss log\n");
    return demo_finish(&s, 1);
  }

  /* outputs: all three or none. The checkpoint comes first: the picture uses its EMA weights, read back. */
  char path_png[4096], path_csv[4096], path_ckpt[4096];
  snprintf(path_png, sizeof path_png, "%s/demo.png", o.out);
  snprintf(path_csv, sizeof path_csv, "%s/demo-loss.csv", o.out);
  snprintf(path_ckpt, sizeof path_ckpt, "%s/demo.safetensors", o.out);
  const char *done[3] = {path_ckpt, path_png, path_csv};
  int written = 0;
  mg_status out_st = mg_ddpm_save(s.model, path_ckpt, err, sizeof err);
  if (out_st == MG_OK) {
    written = 1;
    out_st = mg_checkpoint_load(path_ckpt, &s.ckpt, err, sizeof err);
  }
  if (out_st == MG_OK && (out_st = mg_ddpm_load(s.ctx, s.ckpt, MG_WEIGHTS_EMA, &s.ema_model)) != MG_OK)
    snprintf(err, sizeof err, "reading the checkpoint back: %s", mg_context_error(s.ctx));

  /* the picture: held-out slices at rising noise levels, denoised in one step with the EMA weights */
  static float clean[SHOW * SIZE * SIZE], noisy[SHOW * SIZE * SIZE], denoised[SHOW * SIZE * SIZE];
  for (int c = 0; c < SHOW; c++) {
    int k = (int)((c + 0.5) * s.show.count / SHOW);
    memcpy(clean + (size_t)c * SIZE * SIZE, s.show.pixels + (size_t)k * SIZE * SIZE, SIZE * SIZE * sizeof(float));
  }
  if (out_st == MG_OK &&
      (out_st = mg_ddpm_denoise(s.ema_model, clean, SHOW, SHOW_TIMESTEPS, NULL, o.seed, noisy, denoised)) != MG_OK)
    snprintf(err, sizeof err, "denoising the held-out slices: %s", mg_context_error(s.ctx));
  double psnr_noisy = 0, psnr_denoised = 0;
  for (int c = 0; c < SHOW; c++) {
    size_t at = (size_t)c * SIZE * SIZE;
    psnr_noisy += psnr(noisy + at, clean + at, SIZE * SIZE) / SHOW;
    psnr_denoised += psnr(denoised + at, clean + at, SIZE * SIZE) / SHOW;
  }
  const float *rows[3] = {clean, noisy, denoised};
  if (out_st == MG_OK && (out_st = write_grid(path_png, rows, err, sizeof err)) == MG_OK) written = 2;
  if (out_st == MG_OK && (out_st = mg_file_write_atomic(path_csv, s.log.data, s.log.len, err, sizeof err)) == MG_OK)
    written = 3;
  if (out_st != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    for (int i = 0; i < written; i++) remove(done[i]);
    return demo_finish(&s, 1);
  }
  char total[32];
  cli_format_duration(cli_now_s() - t_start, total, sizeof total);
  printf("medgen demo: on %d held-out slices, PSNR noisy %.1f dB -> denoised %.1f dB (mean over noise levels)\n",
         SHOW, psnr_noisy, psnr_denoised);
  printf("medgen demo: done in %s.\n"
         "  %s: held-out slices (top), with noise added (middle), the model's estimate (bottom);\n"
         "    marked synthetic in its PNG metadata\n"
         "  %s: the loss at each step\n"
         "  %s: the model (see: medgen info %s)\n",
         total, path_png, path_csv, path_ckpt, path_ckpt);
  return demo_finish(&s, 0);
}
