/* cmd_sample.c: `medgen sample`: synthetic images from a trained diffusion model or GAN (the checkpoint says
 * which).
 *
 * Writes the images in the training data's intensity units as a volume (NIfTI, NRRD, MetaImage or a DICOM series
 * through mg_itk_write_stack: one slice per image, the pixel type and voxel size of the training volumes, the class
 * of each slice listed in a CSV beside it) or as a folder of PNGs, and optionally a PNG grid to look at. Every file
 * is marked synthetic in its metadata and written atomically; a failure or Ctrl-C leaves no partial output.
 * A GAN can also walk its latent space: --interpolate A B draws the frames between seed A's first image and seed
 * B's, along the great circle between their latent vectors. */
#include "cli_util.h"
#include "medgen.h"
#include "medgen_commands.h"
#include "mg_io.h"
#include "mg_itk.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample_args {
  const char *checkpoint, *out, *grid, *class_name, *pixel_type, *format;
  const char *device; /* --device: auto (NULL), cpu or cuda */
  int n, threads, batch, frames;
  bool raw_weights, interpolate, tf32;
  uint64_t seed, seed_b;
  mg_ddpm_sample_options ddpm;
  double truncation;
  const char *ddpm_option, *gan_option; /* the first option given that only one model takes, for messages */
  bool given_n, given_seed, given_frames;
} sample_args;

static void print_help(FILE *out) {
  mg_ddpm_sample_options d = mg_ddpm_default_sample_options();
  fprintf(out,
          "Usage: medgen sample --checkpoint CKPT --out OUTPUT [--grid FILE.png] [options]\n"
          "       medgen sample --checkpoint GAN_CKPT --interpolate SEED_A SEED_B --frames N --out OUTPUT\n"
          "\n"
          "Generates synthetic images with a diffusion model or a GAN trained by `medgen train` (the checkpoint says\n"
          "which). The output's name says its format:\n"
          "  FILE.nii, FILE.nii.gz     a NIfTI stack, one slice per image\n"
          "  FILE.nrrd, FILE.nhdr      an NRRD stack\n"
          "  FILE.mha, FILE.mhd        a MetaImage stack\n"
          "  DIR/ --format dicom       a DICOM series, one file per image, in the new directory DIR\n"
          "  DIR/                      one PNG per image: DIR/sample-0000-<class>.png, ...\n"
          "  FILE.png                  one PNG (with --n 1)\n"
          "Stacks hold the images in the training data's units, in the training volumes' pixel type and pixel size\n"
          "(recorded by medgen train; else float and 1 mm), with FILE.csv (DIR.csv for DICOM) beside them naming each\n"
          "slice's class. --grid writes all images tiled into one PNG. Every file is marked synthetic: NIfTI in\n"
          "descrip, NRRD and MetaImage in MedGen_* fields, DICOM in ImageType, SeriesDescription and ImageComments,\n"
          "PNG in a text chunk.\n"
          "\n"
          "Options:\n"
          "  --checkpoint CKPT   a checkpoint written by medgen train (required)\n"
          "  --out PATH          output (required), as above\n"
          "  --format F          what --out DIR/ holds: png (default) or dicom\n"
          "  --pixel-type TYPE   a stack's pixel type: unsigned_char, char, unsigned_short, short, unsigned_int, int,\n"
          "                      float or double; integer types round to nearest and clamp to their range\n"
          "                      (default: the training volumes' type, else float)\n"
          "  --grid FILE.png     also write a picture of all images\n"
          "  --n N               number of images (default 16)\n"
          "  --class NAME        class to draw (a class folder's name or its index); default: every class in turn;\n"
          "                      'none' draws a diffusion model's images without a class\n"
          "  --raw-weights       use the trained weights instead of their moving average (EMA)\n"
          "  --batch N           images per network evaluation (default %d)\n"
          "  --seed S            image i depends only on (seed, i) (default %llu)\n"
          "  --threads N         CPU threads (default: all cores); results are identical for any count\n"
          "  --device NAME       auto (default: the CUDA GPU when this build has the CUDA backend and the machine a\n"
          "                      usable GPU, else the CPU), cpu, or cuda (fails, saying why, without a usable GPU);\n"
          "                      the GPU's images differ from the CPU's by float rounding\n"
          "  --tf32              CUDA: TF32 tensor cores for convolutions and matrix products, faster, with relative\n"
          "                      errors of about 1e-3 (default: off, float32 throughout)\n"
          "Diffusion models:\n"
          "  --sampler NAME      ddim (default), dpm++2m (good in 10-20 steps) or ddpm (all T steps)\n"
          "  --steps N           reverse steps for ddim and dpm++2m (default %d)\n"
          "  --eta X             DDIM noise, 0 deterministic (default %g)\n"
          "  --guidance W        classifier-free guidance: 1 plain conditional (default), >1 stronger, 0 none\n"
          "  --no-clip           do not clamp the predicted clean image to the data range at each step\n"
          "GANs:\n"
          "  --truncation T      redraw latent components beyond +-T: more typical images, less variety\n"
          "                      (default: none)\n"
          "  --interpolate A B   frames from seed A's first image to seed B's (spherical interpolation of their\n"
          "                      latent vectors); a class-conditional model needs --class\n"
          "  --frames N          frames of --interpolate, both ends included, 2 to 10000 (default 8)\n"
          "  -h, --help          show this help\n",
          d.batch, (unsigned long long)d.seed, d.steps, d.eta);
}


static int parse_args(int argc, char **argv, sample_args *a) {
  memset(a, 0, sizeof *a);
  a->ddpm = mg_ddpm_default_sample_options();
  mg_gan_sample_options g = mg_gan_default_sample_options();
  a->n = 16;
  a->frames = 8;
  a->batch = a->ddpm.batch;
  a->seed = a->ddpm.seed;
  a->truncation = g.truncation;
  static const char *ddpm_only[] = {"--sampler", "--steps", "--eta", "--guidance", "--no-clip"};
  static const char *gan_only[] = {"--truncation", "--interpolate", "--frames"};
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i];
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
      print_help(stdout);
      return 1;
    }
    for (size_t k = 0; k < sizeof ddpm_only / sizeof *ddpm_only; k++)
      if (!strcmp(name, ddpm_only[k]) && !a->ddpm_option) a->ddpm_option = ddpm_only[k];
    for (size_t k = 0; k < sizeof gan_only / sizeof *gan_only; k++)
      if (!strcmp(name, gan_only[k]) && !a->gan_option) a->gan_option = gan_only[k];
    if (!strcmp(name, "--no-clip")) {
      a->ddpm.clip_x0 = 0;
      continue;
    }
    if (!strcmp(name, "--raw-weights")) {
      a->raw_weights = true;
      continue;
    }
    if (!strcmp(name, "--tf32")) {
      a->tf32 = true;
      continue;
    }
    static const char *valued[] = {"--checkpoint", "--out", "--grid", "--n", "--class", "--sampler", "--steps",
                                   "--eta", "--guidance", "--batch", "--seed", "--threads", "--truncation",
                                   "--interpolate", "--frames", "--pixel-type", "--format", "--device"};
    bool known = false;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(name, valued[k]);
    if (!known) return cli_usage_error("medgen sample", "unknown option '%s'", name);
    int values = !strcmp(name, "--interpolate") ? 2 : 1;
    if (i + values >= argc) return cli_usage_error("medgen sample", "%s needs %s", name, values == 2 ? "two seeds" : "a value");
    const char *v = argv[++i];
    long n = 0;
    bool ok = true;
    if (!strcmp(name, "--checkpoint")) a->checkpoint = v;
    else if (!strcmp(name, "--out")) a->out = v;
    else if (!strcmp(name, "--grid")) a->grid = v;
    else if (!strcmp(name, "--class")) a->class_name = v;
    else if (!strcmp(name, "--device")) {
      if (cli_check_device("medgen sample", v)) return 2;
      a->device = v;
    }
    else if (!strcmp(name, "--pixel-type")) ok = mg_itk_pixel_type_known(v) && (a->pixel_type = v);
    else if (!strcmp(name, "--format")) ok = (!strcmp(v, "png") || !strcmp(v, "dicom")) && (a->format = v);
    else if (!strcmp(name, "--n")) ok = cli_parse_long(v, 1, 1000000, &n) && (a->n = (int)n, a->given_n = true);
    else if (!strcmp(name, "--sampler")) ok = (n = mg_sampler_from_name(v)) >= 0 && (a->ddpm.sampler = n, true);
    else if (!strcmp(name, "--steps")) ok = cli_parse_long(v, 1, 10000, &n) && (a->ddpm.steps = (int)n);
    else if (!strcmp(name, "--eta")) ok = cli_parse_double(v, 0, 10, &a->ddpm.eta);
    else if (!strcmp(name, "--guidance")) ok = cli_parse_double(v, 0, 100, &a->ddpm.guidance);
    else if (!strcmp(name, "--batch")) ok = cli_parse_long(v, 1, 1024, &n) && (a->batch = (int)n);
    else if (!strcmp(name, "--seed")) ok = cli_parse_u64(v, &a->seed) && (a->given_seed = true);
    else if (!strcmp(name, "--truncation")) ok = cli_parse_double(v, 0, 100, &a->truncation);
    else if (!strcmp(name, "--frames"))
      ok = cli_parse_long(v, 2, 10000, &n) && (a->frames = (int)n, a->given_frames = true);
    else if (!strcmp(name, "--interpolate")) {
      ok = cli_parse_u64(v, &a->seed) && cli_parse_u64(argv[i + 1], &a->seed_b);
      if (!ok) return cli_usage_error("medgen sample", "--interpolate %s %s: give two seeds (non-negative integers)", v, argv[i + 1]);
      a->interpolate = true;
      i++;
    } else ok = cli_parse_long(v, 1, 1024, &n) && (a->threads = (int)n);
    if (!ok) return cli_usage_error("medgen sample", "invalid value '%s' for %s", v, name);
  }
  if (!a->checkpoint || !a->out) return cli_usage_error("medgen sample", "--checkpoint and --out are required");
  if (a->given_frames && !a->interpolate) return cli_usage_error("medgen sample", "--frames goes with --interpolate SEED_A SEED_B");
  if (a->interpolate && (a->given_n || a->given_seed))
    return cli_usage_error("medgen sample", "--interpolate takes its seeds and --frames instead of %s", a->given_n ? "--n" : "--seed");
  if (a->interpolate) a->n = a->frames;
  a->ddpm.batch = a->batch;
  a->ddpm.seed = a->seed;
  return 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

typedef enum out_kind { OUT_STACK, OUT_PNG, OUT_FOLDER } out_kind;


/* The output's kind by its name and --format (see the help); reported and -1 when they do not fit. */
static int output_kind(const sample_args *a) {
  const bool dir = ends_with(a->out, "/");
  if (a->format && !dir) {
    fprintf(stderr, "medgen sample: --format %s names what a directory holds: give --out DIR/ (a file's name says "
                    "its format)\n", a->format);
    return -1;
  }
  out_kind kind = dir ? (a->format && !strcmp(a->format, "dicom") ? OUT_STACK : OUT_FOLDER)
                  : mg_itk_format_of(a->out) != MG_ITK_NOT_VOLUME ? OUT_STACK
                  : ends_with(a->out, ".png") ? OUT_PNG : (out_kind)-1;
  if ((int)kind < 0 || (kind == OUT_PNG && a->n != 1)) {
    fprintf(stderr, "medgen sample: --out %s: use FILE.nii.gz, FILE.nii, FILE.nrrd, FILE.nhdr, FILE.mha or FILE.mhd "
                    "(a stack), DIR/ --format dicom (a DICOM series), FILE.png (with --n 1) or DIR/ (one PNG per "
                    "image)\n", a->out);
    return -1;
  }
  if (a->pixel_type && kind != OUT_STACK) {
    fprintf(stderr, "medgen sample: --pixel-type is for stacks (NIfTI, NRRD, MetaImage, DICOM); PNGs are 8-bit\n");
    return -1;
  }
  return kind;
}

/* Which class each image gets: the named one, none (-1 for all; diffusion models only), or every class in turn.
 * Returns false (reported) for a name the model does not know. */
static bool choose_labels(const cli_model *m, const char *name, int n, int32_t *labels) {
  int classes = cli_model_num_classes(m);
  int fixed = -2; /* -2: every class in turn */
  if (name && !strcmp(name, "none")) {
    if (m->gan) {
      fprintf(stderr, "medgen sample: a class-conditional GAN draws every image from a class: give --class NAME or "
                      "leave it out (every class in turn)\n");
      return false;
    }
    fixed = -1;
  } else if (name) {
    long index;
    fixed = cli_model_class_index(m, name);
    if (fixed < 0 && cli_parse_long(name, 0, classes - 1, &index)) fixed = (int)index;
    if (fixed < 0) {
      fprintf(stderr, "medgen sample: the model has no class '%s'; its classes are:", name);
      for (int c = 0; c < classes; c++)
        fprintf(stderr, " %s", cli_model_class_name(m, c) ? cli_model_class_name(m, c) : "?");
      fprintf(stderr, "%s\n", classes ? "" : " none (it is unconditional)");
      return false;
    }
  }
  for (int i = 0; i < n; i++) labels[i] = fixed == -2 ? i % classes : fixed;
  return true;
}

typedef struct sample_report {
  const char *unit; /* what progress counts: "step" (diffusion) or "image" (GAN) */
  double t_report;
} sample_report;

static int sample_progress(void *user, const mg_progress *p) {
  sample_report *r = user;
  if (p->step == p->total || p->elapsed_s - r->t_report >= 5) {
    char eta[32];
    cli_format_duration((double)(p->total - p->step) * p->elapsed_s / (double)p->step, eta, sizeof eta);
    printf("  %s %lld/%lld  %3d%%  ETA %s\n", r->unit, (long long)p->step, (long long)p->total,
           (int)(100 * p->step / p->total), eta);
    fflush(stdout);
    r->t_report = p->elapsed_s;
  }
  return cli_interrupted();
}

/* The class list beside a stack (FILE.csv for FILE.nii.gz, FILE.nrrd, ...; DIR.csv for a DICOM series DIR/): slice
 * index and class name, written into *csv, which the caller commits once the stack is written or else aborts, so a
 * failed stack leaves an earlier list untouched. */
static mg_status prepare_class_csv(const char *stack_path, const cli_model *m, const int32_t *labels, int n,
                                   char *path, size_t path_size, mg_atomic_file **csv, char *err, size_t err_size) {
  cli_class_list_path(stack_path, path, path_size);
  cli_text t = {0};
  cli_text_append(&t, "slice,class\n");
  for (int i = 0; i < n; i++) {
    const char *name = labels && labels[i] >= 0 ? cli_model_class_name(m, labels[i]) : NULL;
    if (labels && labels[i] >= 0 && !name) cli_text_append(&t, "%d,%d\n", i, labels[i]);
    else cli_text_append(&t, "%d,%s\n", i, name ? name : "none");
  }
  *csv = NULL;
  mg_status s = t.failed ? mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory")
                         : mg_atomic_file_open(path, csv, err, err_size);
  if (s == MG_OK) s = mg_atomic_file_write(*csv, t.data, t.len, err, err_size);
  if (s != MG_OK) {
    mg_atomic_file_abort(*csv);
    *csv = NULL;
  }
  cli_text_free(&t);
  return s;
}

/* Spherical interpolation from a to b (dim values each) in frames steps, both ends included; linear where the two
 * are (nearly) parallel, where the great circle is undefined. */
static void slerp_frames(const float *a, const float *b, int dim, int frames, float *z) {
  double ab = 0, aa = 0, bb = 0;
  for (int k = 0; k < dim; k++) ab += (double)a[k] * b[k], aa += (double)a[k] * a[k], bb += (double)b[k] * b[k];
  double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1;
  double omega = acos(c > 1 ? 1 : c < -1 ? -1 : c), so = sin(omega);
  for (int f = 0; f < frames; f++) {
    double t = (double)f / (frames - 1);
    double wa = so > 1e-6 ? sin((1 - t) * omega) / so : 1 - t, wb = so > 1e-6 ? sin(t * omega) / so : t;
    for (int k = 0; k < dim; k++) z[(size_t)f * dim + k] = (float)(wa * a[k] + wb * b[k]);
  }
}

/* The GAN's frames of --interpolate into images; z holds (frames + 2) latent vectors. */
static mg_status interpolate(const sample_args *a, mg_gan *g, const int32_t *labels, float *z, float *images) {
  int dim = mg_gan_get_config(g)->latent_dim;
  float *ends = z + (size_t)a->frames * dim;
  mg_status st = mg_gan_latents(g, a->seed, 0, 1, a->truncation, ends);
  if (st == MG_OK) st = mg_gan_latents(g, a->seed_b, 0, 1, a->truncation, ends + dim);
  if (st != MG_OK) return st;
  slerp_frames(ends, ends + dim, dim, a->frames, z);
  return mg_gan_generate(g, a->frames, z, labels, a->batch, images);
}

/* Options of the other model kind are refused, not ignored: the user asked for something this model cannot do. */
static bool options_fit(const sample_args *a, const cli_model *m) {
  const char *wrong = m->gan ? a->ddpm_option : a->gan_option;
  if (!wrong) return true;
  fprintf(stderr, "medgen sample: %s is an option of %s, and %s holds a %s (its options: %s; see medgen sample "
                  "--help)\n", wrong, m->gan ? "diffusion models" : "GANs", a->checkpoint, cli_model_kind(m),
          m->gan ? "--truncation, --interpolate, --frames" : "--sampler, --steps, --eta, --guidance, --no-clip");
  return false;
}

int medgen_cmd_sample(int argc, char **argv) {
  sample_args a;
  int parsed = parse_args(argc, argv, &a);
  if (parsed) return parsed == 1 ? 0 : 2;
  int kind_or_error = output_kind(&a);
  if (kind_or_error < 0) return 2;
  const out_kind kind = (out_kind)kind_or_error;
  if (a.grid && !ends_with(a.grid, ".png")) {
    fprintf(stderr, "medgen sample: --grid %s: the grid is a PNG; name it FILE.png\n", a.grid);
    return 2;
  }
  char err[6144];
  mg_checkpoint *ckpt = NULL;
  mg_ctx *ctx = NULL;
  cli_model m = {0};
  float *images = NULL, *z = NULL;
  int32_t *labels = NULL;
  int code = 1;
  mg_device device;
  int started = cli_context_create("medgen sample", a.device, a.threads, a.tf32, &ctx, &device);
  if (started) {
    code = started;
    goto done;
  }
  if (mg_checkpoint_load(a.checkpoint, &ckpt, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen sample: %s\n", err);
    goto done;
  }
  const char *model_type = mg_checkpoint_model_type(ckpt);
  if (!model_type || (strcmp(model_type, "ddpm") && strcmp(model_type, "gan"))) {
    if (model_type)
      fprintf(stderr, "medgen sample: %s holds a model of type '%s'; sampling needs a diffusion model or GAN "
                      "written by medgen train\n", a.checkpoint, model_type);
    else
      fprintf(stderr, "medgen sample: %s is not a MedGen model checkpoint (its metadata names no model type); "
                      "sampling needs a diffusion model or GAN written by medgen train\n", a.checkpoint);
    goto done;
  }
  if (!cli_model_load(ctx, ckpt, a.raw_weights ? MG_WEIGHTS_RAW : MG_WEIGHTS_EMA, &m, err, sizeof err)) {
    fprintf(stderr, "medgen sample: %s%s%s\n", strstr(err, a.checkpoint) ? "" : a.checkpoint,
            strstr(err, a.checkpoint) ? "" : ": ", err);
    goto done;
  }
  /* what a stack records: the exact checkpoint, and the training volumes' pixel type and size */
  char fingerprint[32];
  if (kind == OUT_STACK &&
      mg_itk_fingerprint(a.checkpoint, fingerprint, sizeof fingerprint, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen sample: %s\n", err);
    goto done;
  }
  const char *pixel_type = a.pixel_type ? a.pixel_type : cli_model_note(&m, "run.pixel_type");
  if (!pixel_type || !mg_itk_pixel_type_known(pixel_type)) {
    if (pixel_type && kind == OUT_STACK)
      printf("medgen sample: note: the training volumes' pixel type '%s' cannot be written; writing float\n",
             pixel_type);
    pixel_type = "float";
  }
  double mm_per_pixel = 1;
  const char *mm_note = cli_model_note(&m, "run.mm_per_pixel");
  if (mm_note && !cli_parse_double(mm_note, 1e-6, 1e6, &mm_per_pixel)) mm_per_pixel = 1;
  mg_checkpoint_free(ckpt);
  ckpt = NULL;
  if (!options_fit(&a, &m)) {
    code = 2;
    goto done;
  }
  if (cli_model_channels(&m) != 1) {
    fprintf(stderr, "medgen sample: the model makes %d-channel images; this version writes 1-channel images only\n",
            cli_model_channels(&m));
    goto done;
  }
  const int S = cli_model_image_size(&m);
  const int64_t per = (int64_t)S * S;
  images = malloc((size_t)a.n * per * sizeof *images);
  labels = malloc((size_t)a.n * sizeof *labels);
  if (a.interpolate) z = malloc(((size_t)a.n + 2) * mg_gan_get_config(m.gan)->latent_dim * sizeof *z);
  if (!images || !labels || (a.interpolate && !z)) {
    fprintf(stderr, "medgen sample: out of memory for %d images of %dx%d\n", a.n, S, S);
    goto done;
  }
  /* limits of the output formats, checked before minutes of sampling */
  enum { NIFTI_MAX_SLICES = 32767, PNG_MAX_SIDE = 16384, GRID_GAP = 2 };
  const int classes = cli_model_num_classes(&m);
  const bool conditional = classes > 0;
  if ((kind != OUT_FOLDER && !cli_output_folder_writable("medgen sample", "--out", a.out)) ||
      (a.grid && !cli_output_folder_writable("medgen sample", "--grid", a.grid)))
    goto done;
  if (kind == OUT_STACK && mg_itk_format_of(a.out) == MG_ITK_NIFTI && a.n > NIFTI_MAX_SLICES) {
    fprintf(stderr, "medgen sample: a NIfTI stack holds at most %d images; use --out DIR/ for %d\n", NIFTI_MAX_SLICES,
            a.n);
    goto done;
  }
  /* one row per frame sequence, one column per class, else a square */
  int columns = a.interpolate ? a.n
                : conditional && !a.class_name && classes <= 16 ? classes : (int)ceil(sqrt((double)a.n));
  const int max_tiles = (PNG_MAX_SIDE + GRID_GAP) / (S + GRID_GAP);
  if (columns > a.n) columns = a.n;
  if (columns > max_tiles) columns = max_tiles;
  if ((a.n + columns - 1) / columns > max_tiles) columns = (a.n + max_tiles - 1) / max_tiles; /* wider, not taller */
  if (a.grid && columns > max_tiles) {
    fprintf(stderr, "medgen sample: --grid: %d images of %dx%d do not fit in one PNG (at most %d); draw fewer or drop "
                    "--grid\n", a.n, S, S, max_tiles * max_tiles);
    goto done;
  }
  if (!conditional && a.class_name && strcmp(a.class_name, "none")) {
    fprintf(stderr, "medgen sample: %s is an unconditional model: it has no classes (drop --class)\n", a.checkpoint);
    goto done;
  }
  if (conditional && a.interpolate && !a.class_name) {
    fprintf(stderr, "medgen sample: %s is class-conditional: give the frames' class with --class NAME\n",
            a.checkpoint);
    code = 2;
    goto done;
  }
  if (conditional && !choose_labels(&m, a.class_name, a.n, labels)) goto done;
  const char *weights = a.raw_weights ? "raw" : "EMA";
  char trunc[64] = "";
  if (a.truncation > 0) snprintf(trunc, sizeof trunc, ", truncation %g", a.truncation);
  char where[64];
  cli_device_text(ctx, device, a.tf32, where, sizeof where);
  if (m.ddpm) {
    if (a.ddpm.sampler != MG_SAMPLER_DDIM && a.ddpm.eta != 0)
      fprintf(stderr, "medgen sample: note: --eta applies to ddim only; ignored\n");
    printf("medgen sample: %d images of %dx%d with %s (%d steps%s), %s weights, seed %llu, %s\n", a.n, S, S,
           mg_sampler_name(a.ddpm.sampler),
           a.ddpm.sampler == MG_SAMPLER_DDPM ? mg_ddpm_get_config(m.ddpm)->timesteps : a.ddpm.steps,
           conditional ? (a.ddpm.guidance != 1 ? ", guided" : ", conditional") : "", weights,
           (unsigned long long)a.seed, where);
  } else if (a.interpolate) {
    printf("medgen sample: %d frames of %dx%d from a GAN, seed %llu to seed %llu%s%s, %s weights%s, %s\n",
           a.n, S, S, (unsigned long long)a.seed, (unsigned long long)a.seed_b, conditional ? ", class " : "",
           conditional ? cli_model_class_name(&m, labels[0]) : "", weights, trunc, where);
  } else {
    printf("medgen sample: %d images of %dx%d from a GAN%s, %s weights%s, seed %llu, %s\n", a.n, S, S,
           conditional ? " (conditional)" : "", weights, trunc, (unsigned long long)a.seed, where);
  }
  fflush(stdout);
  double t0 = cli_now_s();
  sample_report report = {m.gan ? "image" : "step", 0};
  mg_status st;
  cli_catch_interrupt();
  if (m.ddpm) {
    st = mg_ddpm_sample(m.ddpm, &a.ddpm, a.n, conditional ? labels : NULL, images, sample_progress, &report);
  } else if (a.interpolate) {
    st = interpolate(&a, m.gan, conditional ? labels : NULL, z, images);
  } else {
    mg_gan_sample_options go = {a.truncation, a.batch, a.seed};
    st = mg_gan_sample(m.gan, &go, a.n, conditional ? labels : NULL, images, sample_progress, &report);
  }
  cli_release_interrupt();
  if (st != MG_OK) {
    fprintf(stderr, "medgen sample: %s%s\n", mg_context_error(ctx), st == MG_ERR_CANCELLED ? "; nothing written" : "");
    goto done;
  }
  double offset, scale;
  cli_model_normalization(&m, &offset, &scale);
  const double lo = offset - scale, hi = offset + scale;

  /* outputs: all or none; the grid first, so that its failure has nothing to undo */
  char written[2][4200] = {"", ""};
  st = a.grid ? mg_png_write_grid(a.grid, images, a.n, S, columns, lo, hi, true, err, sizeof err) : MG_OK;
  if (st != MG_OK) {
    fprintf(stderr, "medgen sample: %s\n", err);
    goto done;
  }
  if (kind == OUT_STACK) {
    char csv_path[4200];
    mg_atomic_file *csv = NULL;
    st = prepare_class_csv(a.out, &m, conditional ? labels : NULL, a.n, csv_path, sizeof csv_path, &csv, err,
                           sizeof err);
    const char *class_label = !conditional || (a.class_name && !strcmp(a.class_name, "none")) ? NULL
                              : a.class_name ? cli_model_class_name(&m, labels[0]) : "each in turn";
    mg_itk_synthetic_info info = {
        .model_fingerprint = fingerprint,
        .model_type = m.gan ? "gan" : "ddpm",
        .sampler = m.gan ? (a.interpolate ? "gan-interpolate" : "gan") : mg_sampler_name(a.ddpm.sampler),
        .steps = m.gan ? 1 : a.ddpm.sampler == MG_SAMPLER_DDPM ? mg_ddpm_get_config(m.ddpm)->timesteps : a.ddpm.steps,
        .seed = a.seed,
        .class_name = class_label,
        .guidance = m.gan ? 0 : a.ddpm.guidance,
        .truncation = m.gan ? a.truncation : 0,
        .model_file = a.checkpoint,
        .weights = a.raw_weights ? "raw" : "ema",
    };
    if (st == MG_OK)
      st = mg_itk_write_stack(a.out, images, a.n, S, mm_per_pixel, pixel_type, &info, err, sizeof err);
    if (st == MG_OK) {
      snprintf(written[0], sizeof written[0], "%s", a.out);
      st = mg_atomic_file_commit(csv, err, sizeof err);
      if (st == MG_OK) snprintf(written[1], sizeof written[1], "%s", csv_path);
    } else {
      mg_atomic_file_abort(csv);
    }
  } else if (kind == OUT_PNG) {
    st = mg_png_write_grid(a.out, images, 1, S, 1, lo, hi, true, err, sizeof err); /* a grid of one: one image */
    if (st == MG_OK) snprintf(written[0], sizeof written[0], "%s", a.out);
  } else {
    if (!cli_make_dir(a.out))
      st = mg_file_error(err, sizeof err, MG_ERR_IO, a.out, "cannot create: %s", strerror(errno));
    int done_pngs = 0;
    char path[4200];
    for (int i = 0; st == MG_OK && i < a.n; i++) {
      const char *cls = conditional && labels[i] >= 0 ? cli_model_class_name(&m, labels[i]) : NULL;
      snprintf(path, sizeof path, "%ssample-%04d%s%s.png", a.out, i, cls ? "-" : "", cls ? cls : "");
      st = mg_png_write_grid(path, images + (size_t)i * per, 1, S, 1, lo, hi, true, err, sizeof err);
      done_pngs += st == MG_OK;
    }
    for (int i = 0; st != MG_OK && i < done_pngs; i++) { /* all or none */
      const char *cls = conditional && labels[i] >= 0 ? cli_model_class_name(&m, labels[i]) : NULL;
      snprintf(path, sizeof path, "%ssample-%04d%s%s.png", a.out, i, cls ? "-" : "", cls ? cls : "");
      remove(path);
    }
  }
  if (st != MG_OK) {
    fprintf(stderr, "medgen sample: %s\n", err);
    for (int i = 0; i < 2; i++)
      if (written[i][0]) remove(written[i]);
    if (a.grid) remove(a.grid);
    goto done;
  }
  char took[32];
  cli_format_duration(cli_now_s() - t0, took, sizeof took);
  char stack_type[96] = "";
  if (kind == OUT_STACK) snprintf(stack_type, sizeof stack_type, " (%s, %g mm pixels)", pixel_type, mm_per_pixel);
  printf("medgen sample: wrote %s%s%s%s%s%s in %s (marked synthetic)\n", a.out, stack_type,
         written[1][0] ? " and " : "", written[1], a.grid ? " and " : "", a.grid ? a.grid : "", took);
  code = 0;
done:
  free(images);
  free(z);
  free(labels);
  cli_model_free(&m);
  mg_checkpoint_free(ckpt);
  mg_context_free(ctx);
  return code;
}
