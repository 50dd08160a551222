/* cmd_demo.c: `medgen demo`: the engine end to end on a real brain MRI, in about five minutes on 2 cores.
 *
 * Cuts the Colin-27 T1 template (Debian's mricron-data) into axial slices in patient space with the ITK layer
 * (mg_itk.h: orientation from the direction cosines, background slices skipped, 64x64 with the aspect ratio kept,
 * robust percentile window), trains a small GAN on them (medgen.h, mg_gan_*), writes its checkpoint, and draws
 * new slices from the generator's EMA weights read back from that checkpoint. A GAN rather than a diffusion model:
 * in minutes on 2 cores a DDPM's samples were still speckled blobs, a GAN's already brain slices. The synthetic
 * slices are written as a NIfTI stack in the source's pixel type and units, marked synthetic with what reproduces
 * them, and shown in one PNG beneath real slices of the volume. Ctrl-C cancels through the progress callbacks and
 * writes nothing. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "medgen.h"
#include "cli_util.h"
#include "medgen_commands.h"
#include "mg_io.h"
#include "mg_itk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_DEFAULT_DATA "/usr/share/mricron/templates/ch2.nii.gz"
#define DEMO_DEFAULT_STEPS 5000
enum {
  SIZE = 64,          /* slices are SIZE x SIZE */
  BATCH = 16,
  WIDTH = 16,         /* the GAN's channels at full resolution (dcgan-64 has 64): what trains in the time */
  COLUMNS = 8,        /* slices per row of the picture */
  SYNTHETIC_ROWS = 3, /* the picture's synthetic rows, under one row of real slices */
  SYNTHETIC = COLUMNS * SYNTHETIC_ROWS,
};

typedef struct demo_options {
  const char *data, *out;
  const char *device; /* --device: auto (NULL), cpu or cuda */
  int steps, threads;
  uint64_t seed;
  bool tf32;
} demo_options;

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen demo [--data FILE] [--out DIR] [--steps N] [--threads N] [--device NAME] [--tf32] [--seed S]\n"
          "\n"
          "Trains a small GAN (a generator that turns random vectors into images, against a discriminator that\n"
          "tells them from real ones) on the axial slices of a real T1 brain MRI, then draws %d new slices from\n"
          "it (the generator's EMA weights). Writes, in DIR:\n"
          "  demo.png                real slices of the volume (top row) above the synthetic ones\n"
          "  demo-synthetic.nii.gz   the synthetic slices as a stack, in the volume's pixel type and units\n"
          "  demo.safetensors        the model's checkpoint (medgen info and medgen sample read it)\n"
          "  demo-loss.csv           the discriminator's and generator's losses at each training step\n"
          "Every synthetic image is marked synthetic in its file's metadata; the stack also records the model's\n"
          "fingerprint and seed. Ctrl-C stops the demo and writes nothing.\n"
          "\n"
          "Options:\n"
          "  --data FILE    a volume in any format ITK reads (NIfTI, NRRD, MetaImage, a DICOM series folder),\n"
          "                 default " DEMO_DEFAULT_DATA "\n"
          "                 (Colin-27, from Debian's mricron-data package)\n"
          "  --out DIR      output folder, created if needed (default: demo-output)\n"
          "  --steps N      training steps of %d slices each (default: %d, about four minutes on 2 cores)\n"
          "  --threads N    CPU threads (default: all cores); results are identical for any count\n"
          "  --device NAME  auto (default: the CUDA GPU when this build has the CUDA backend and the machine a usable\n"
          "                 GPU, else the CPU), cpu, or cuda (fails, saying why, without a usable GPU)\n"
          "  --tf32         CUDA: TF32 tensor cores for convolutions and matrix products, faster, with relative\n"
          "                 errors of about 1e-3 (default: off, float32 throughout)\n"
          "  --seed S       random seed (default: 1)\n"
          "  -h, --help     show this help\n",
          SYNTHETIC, BATCH, DEMO_DEFAULT_STEPS);
}

/* ---- options ---- */
/* Returns 0 to run, 1 to exit successfully (help), 2 on a usage error (already reported). */
static int parse_options(int argc, char **argv, demo_options *o) {
  *o = (demo_options){.data = DEMO_DEFAULT_DATA, .out = "demo-output", .steps = DEMO_DEFAULT_STEPS, .seed = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      print_help(stdout);
      return 1;
    }
    if (!strcmp(a, "--tf32")) {
      o->tf32 = true;
      continue;
    }
    const char *names[] = {"--data", "--out", "--steps", "--threads", "--seed", "--device"};
    int which = -1;
    for (int k = 0; k < 6; k++)
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
      case 4: ok = cli_parse_long(v, 0, 2147483647L, &n); o->seed = (uint64_t)n; break;
      default:
        if (cli_check_device("medgen demo", v)) return 2;
        o->device = v;
        break;
    }
    if (!ok) {
      fprintf(stderr, "medgen demo: invalid value '%s' for %s (try: medgen demo --help)\n", v, a);
      return 2;
    }
  }
  return 0;
}


/* ---- the picture ---- */
/* Capitals 5 pixels wide and 7 high for the row labels: 7 rows of 5 characters each, '#' lit. */
static const struct {
  char letter;
  const char *rows;
} GLYPHS[] = {
    {'A', " ### " "#   #" "#   #" "#####" "#   #" "#   #" "#   #"},
    {'C', " ### " "#   #" "#    " "#    " "#    " "#   #" " ### "},
    {'E', "#####" "#    " "#    " "#### " "#    " "#    " "#####"},
    {'H', "#   #" "#   #" "#   #" "#####" "#   #" "#   #" "#   #"},
    {'I', " ### " "  #  " "  #  " "  #  " "  #  " "  #  " " ### "},
    {'L', "#    " "#    " "#    " "#    " "#    " "#    " "#####"},
    {'N', "#   #" "##  #" "# # #" "#  ##" "#   #" "#   #" "#   #"},
    {'R', "#### " "#   #" "#   #" "#### " "# #  " "#  # " "#   #"},
    {'S', " ### " "#   #" "#    " " ### " "    #" "#   #" " ### "},
    {'T', "#####" "  #  " "  #  " "  #  " "  #  " "  #  " "  #  "},
    {'Y', "#   #" "#   #" " # # " "  #  " "  #  " "  #  " "  #  "},
};
enum { GLYPH_SCALE = 2, GLYPH_W = 5 * GLYPH_SCALE, GLYPH_H = 7 * GLYPH_SCALE, GLYPH_ADVANCE = GLYPH_W + 4 };

/* Draws text (capitals and spaces) into an 8-bit image width pixels wide, top-left at (x, y). */
static void draw_text(uint8_t *img, int width, int x, int y, const char *text) {
  for (; *text; text++, x += GLYPH_ADVANCE)
    for (size_t g = 0; g < sizeof GLYPHS / sizeof GLYPHS[0]; g++)
      if (GLYPHS[g].letter == *text)
        for (int r = 0; r < 7 * GLYPH_SCALE; r++)
          for (int c = 0; c < 5 * GLYPH_SCALE; c++)
            if (GLYPHS[g].rows[(r / GLYPH_SCALE) * 5 + c / GLYPH_SCALE] == '#')
              img[(size_t)(y + r) * width + x + c] = 255;
}

static uint8_t to_byte(float v) { /* [-1,1] -> [0,255] */
  float p = (v + 1.0f) * 127.5f + 0.5f;
  return (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p);
}

/* One labelled row of real slices over SYNTHETIC_ROWS labelled rows of synthetic ones, images in [-1, 1], each
 * scaled 2x. The synthetic rows make the whole picture synthetic: it is marked so in the PNG's metadata. */
static mg_status write_picture(const char *path, const float *real, int real_count, const float *synthetic,
                               char *err, size_t err_size) {
  enum { SCALE = 2, GAP = 4, CELL = SIZE * SCALE, LABEL = GLYPH_H + 2 * GAP };
  const int width = COLUMNS * CELL + (COLUMNS + 1) * GAP;
  const int height = 2 * LABEL + (1 + SYNTHETIC_ROWS) * (CELL + GAP);
  uint8_t *img = calloc((size_t)width * height, 1);
  if (!img) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  int y = 0;
  for (int section = 0; section < 2; section++) {
    draw_text(img, width, GAP, y + GAP, section == 0 ? "REAL SLICES" : "SYNTHETIC SLICES");
    y += LABEL;
    const float *images = section == 0 ? real : synthetic;
    const int count = section == 0 ? real_count : SYNTHETIC;
    for (int i = 0; i < count; i++) {
      const int top = y + (i / COLUMNS) * (CELL + GAP), left = GAP + (i % COLUMNS) * (CELL + GAP);
      for (int r = 0; r < CELL; r++)
        for (int c = 0; c < CELL; c++)
          img[(size_t)(top + r) * width + left + c] =
              to_byte(images[(size_t)i * SIZE * SIZE + (r / SCALE) * SIZE + c / SCALE]);
    }
    y += (count + COLUMNS - 1) / COLUMNS * (CELL + GAP);
  }
  mg_status st = mg_png_write(path, img, width, height, true, err, err_size);
  free(img);
  return st;
}


/* ---- the command ---- */
typedef struct demo_state {
  mg_ctx *ctx;
  mg_device device; /* where ctx computes */
  mg_itk_slices *slices;
  mg_gan *model, *ema_model; /* the trained model; its generator's EMA weights read back from the checkpoint */
  mg_checkpoint *ckpt;
  float *real, *synthetic, *synthetic_shown;
  cli_text log;
} demo_state;

static int demo_finish(demo_state *s, int code) {
  mg_gan_free(s->model);
  mg_gan_free(s->ema_model);
  mg_checkpoint_free(s->ckpt);
  free(s->real);
  free(s->synthetic);
  free(s->synthetic_shown);
  cli_text_free(&s->log);
  mg_itk_slices_free(s->slices);
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
  /* the engine before the folder: a device that cannot be used leaves nothing behind */
  int started = cli_context_create("medgen demo", o.device, o.threads, o.tf32, &s.ctx, &s.device);
  if (started) return started;
  /* The folder is made now, so a bad path fails before minutes of training; if the demo is cancelled and the
   * folder is new, it is removed again (its parents, if made, stay). */
  bool out_existed = stat(o.out, &st) == 0;
  if (!cli_make_dir(o.out)) {
    fprintf(stderr, "medgen demo: cannot create the output folder %s: %s\n", o.out, strerror(errno));
    return demo_finish(&s, 1);
  }

  /* data: the volume's axial slices, normalized by the ITK layer's robust percentile window */
  double t_start = cli_now_s();
  printf("medgen demo: reading %s\n", o.data);
  fflush(stdout);
  const mg_itk_slice_options sopt = {.axis = MG_ITK_AXIAL, .size = SIZE, .window = false};
  mg_dataset data;
  if (mg_itk_slices_create(&sopt, &s.slices, err, sizeof err) != MG_OK ||
      mg_itk_slices_add(s.slices, o.data, NULL, NULL, NULL, err, sizeof err) != MG_OK ||
      mg_itk_slices_dataset(s.slices, &data, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    if (!out_existed) rmdir(o.out);
    return demo_finish(&s, 1);
  }
  const char *pixel_type = mg_itk_slices_pixel_type(s.slices);
  const double mm_per_pixel = mg_itk_slices_mm_per_pixel(s.slices);
  printf("medgen demo: %d axial slices with anatomy, at %dx%d pixels of %.2f mm (%s voxels, intensities %.4g to "
         "%.4g mapped to [-1, 1])\n",
         data.count, SIZE, SIZE, mm_per_pixel, pixel_type, data.norm_offset - data.norm_scale,
         data.norm_offset + data.norm_scale);
  /* The picture's real row, copied now: the dataset's memory belongs to the slice set. Evenly spaced slices from
   * the bottom of the head to the top. */
  const int real_count = data.count < COLUMNS ? data.count : COLUMNS;
  s.real = malloc((size_t)real_count * SIZE * SIZE * sizeof(float));
  s.synthetic = malloc((size_t)SYNTHETIC * SIZE * SIZE * sizeof(float));
  s.synthetic_shown = malloc((size_t)SYNTHETIC * SIZE * SIZE * sizeof(float));
  if (!s.real || !s.synthetic || !s.synthetic_shown) {
    fprintf(stderr, "medgen demo: out of memory\n");
    return demo_finish(&s, 1);
  }
  for (int c = 0; c < real_count; c++) {
    int k = (int)((c + 0.5) * data.count / real_count);
    memcpy(s.real + (size_t)c * SIZE * SIZE, data.images + (size_t)k * SIZE * SIZE, SIZE * SIZE * sizeof(float));
  }

  /* the model */
  mg_gan_config cfg;
  if (mg_gan_preset("dcgan-64", &cfg, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen demo: %s\n", err);
    return demo_finish(&s, 1);
  }
  cfg.image_size = SIZE;
  cfg.width = WIDTH;
  mg_gan_train_options topt = mg_gan_default_train_options();
  topt.batch = BATCH;
  topt.steps = o.steps;
  topt.seed = o.seed;
  topt.checkpoint_every = 0; /* one checkpoint, written at the end with the pictures */
  char *absolute = realpath(o.data, NULL); /* read just now; NULL only when out of memory */
  char data_path[4096];
  snprintf(data_path, sizeof data_path, "%s", absolute ? absolute : o.data);
  free(absolute);
  char mm_note[32];
  snprintf(mm_note, sizeof mm_note, "%.17g", mm_per_pixel);
  if (mg_gan_create(s.ctx, &cfg, &topt, &s.model) != MG_OK || mg_gan_set_note(s.model, "run.command", "demo") ||
      mg_gan_set_note(s.model, "run.data", data_path) || mg_gan_set_note(s.model, "run.axis", "axial") ||
      mg_gan_set_note(s.model, "run.window", "percentiles") ||
      mg_gan_set_note(s.model, "run.pixel_type", pixel_type) || mg_gan_set_note(s.model, "run.mm_per_pixel", mm_note) ||
      mg_gan_set_note(s.model, "run.device", mg_device_name(s.device)) ||
      mg_gan_set_note(s.model, "run.tf32", cli_tf32_note(s.device, o.tf32))) {
    fprintf(stderr, "medgen demo: %s\n", mg_context_error(s.ctx));
    return demo_finish(&s, 1);
  }

  /* training */
  char where[64];
  printf("medgen demo: training a small GAN (generator of %lld and discriminator of %lld parameters), %d steps of "
         "%d slices (%s)\n",
         (long long)mg_gan_generator_parameter_count(s.model), (long long)mg_gan_discriminator_parameter_count(s.model),
         o.steps, BATCH, cli_device_text(s.ctx, s.device, o.tf32, where, sizeof where));
  fflush(stdout);
  cli_train_progress progress = {.batch = BATCH, .report_every = o.steps / 20 > 0 ? o.steps / 20 : 1, .gan = s.model,
                                 .log = &s.log};
  cli_text_append(&s.log, "%s", cli_train_log_header(&progress));
  cli_catch_interrupt(); /* Ctrl-C asks the engine to stop after the current step */
  mg_status trained = mg_gan_train(s.model, &data, cli_on_train_progress, &progress);
  if (trained != MG_OK && trained != MG_ERR_CANCELLED) {
    cli_release_interrupt();
    fprintf(stderr, "medgen demo: %s\n", mg_context_error(s.ctx));
    return demo_finish(&s, 1);
  }
  if (s.log.failed) {
    cli_release_interrupt();
    fprintf(stderr, "medgen demo: out of memory recording the loss log\n");
    return demo_finish(&s, 1);
  }

  /* outputs: all four or none. The checkpoint comes first: sampling uses its EMA weights, read back, and the
   * stack records its fingerprint. */
  char path_png[4096], path_stack[4096], path_csv[4096], path_ckpt[4096], fingerprint[32];
  snprintf(path_ckpt, sizeof path_ckpt, "%s/demo.safetensors", o.out);
  snprintf(path_stack, sizeof path_stack, "%s/demo-synthetic.nii.gz", o.out);
  snprintf(path_png, sizeof path_png, "%s/demo.png", o.out);
  snprintf(path_csv, sizeof path_csv, "%s/demo-loss.csv", o.out);
  const char *done[4] = {path_ckpt, path_stack, path_png, path_csv};
  int written = 0;
  mg_status out_st = trained;
  if (out_st == MG_OK && (out_st = mg_gan_save(s.model, path_ckpt, err, sizeof err)) == MG_OK) {
    written = 1;
    out_st = mg_checkpoint_load(path_ckpt, &s.ckpt, err, sizeof err);
  }
  if (out_st == MG_OK) out_st = mg_itk_fingerprint(path_ckpt, fingerprint, sizeof fingerprint, err, sizeof err);
  if (out_st == MG_OK && (out_st = mg_gan_load(s.ctx, s.ckpt, MG_WEIGHTS_EMA, &s.ema_model)) != MG_OK)
    snprintf(err, sizeof err, "reading the checkpoint back: %s", mg_context_error(s.ctx));

  /* new slices, in the volume's units */
  mg_gan_sample_options sample = mg_gan_default_sample_options();
  sample.seed = o.seed;
  if (out_st == MG_OK) {
    printf("medgen demo: drawing %d synthetic slices\n", SYNTHETIC);
    fflush(stdout);
    if ((out_st = mg_gan_sample(s.ema_model, &sample, SYNTHETIC, NULL, s.synthetic, NULL, NULL)) != MG_OK)
      snprintf(err, sizeof err, "sampling: %s", mg_context_error(s.ctx));
  }
  cli_release_interrupt();
  const mg_itk_synthetic_info info = {.model_fingerprint = fingerprint, .model_type = "gan", .sampler = "gan",
                                      .steps = 1, .seed = sample.seed, .model_file = path_ckpt, .weights = "ema"};
  if (out_st == MG_OK && (out_st = mg_itk_write_stack(path_stack, s.synthetic, SYNTHETIC, SIZE, mm_per_pixel,
                                                      pixel_type, &info, err, sizeof err)) == MG_OK)
    written = 2;
  if (out_st == MG_OK)
    for (int i = 0; i < SYNTHETIC * SIZE * SIZE; i++) /* back to [-1, 1], the real row's scale */
      s.synthetic_shown[i] = (float)((s.synthetic[i] - data.norm_offset) / data.norm_scale);
  if (out_st == MG_OK &&
      (out_st = write_picture(path_png, s.real, real_count, s.synthetic_shown, err, sizeof err)) == MG_OK)
    written = 3;
  if (out_st == MG_OK && (out_st = mg_file_write_atomic(path_csv, s.log.data, s.log.len, err, sizeof err)) == MG_OK)
    written = 4;
  if (out_st != MG_OK) {
    for (int i = 0; i < written; i++) remove(done[i]);
    if (out_st == MG_ERR_CANCELLED) {
      if (!out_existed) rmdir(o.out); /* only if empty: nothing of ours is in it any more */
      fprintf(stderr, "medgen demo: interrupted; nothing written\n");
    } else {
      fprintf(stderr, "medgen demo: %s\n", err);
    }
    return demo_finish(&s, 1);
  }
  char total[32];
  cli_format_duration(cli_now_s() - t_start, total, sizeof total);
  printf("medgen demo: done in %s.\n"
         "  %s: real slices (top row) above %d synthetic ones; marked synthetic in its PNG metadata\n"
         "  %s: the synthetic slices (%s, %.2f mm pixels), marked synthetic with the model's fingerprint\n"
         "    and seed\n"
         "  %s: the model (see: medgen info %s)\n"
         "  %s: the losses at each step\n",
         total, path_png, SYNTHETIC, path_stack, pixel_type, mm_per_pixel, path_ckpt, path_ckpt, path_csv);
  return demo_finish(&s, 0);
}

