/* cmd_train.c: `medgen train`: trains a diffusion model (DDPM) or a GAN on a folder of 2D images (one subfolder per
 * class), or on the slices of volumes (NIfTI, NRRD, MetaImage, DICOM series; through the ITK layer, mg_itk.h),
 * classed by folder or by label maps; or an image classifier on a folder of labelled 2D images (trained in one go,
 * no resume: one checkpoint at the end, with its accuracy on a held-out folder, --val).
 *
 * Writes RUN/checkpoint.safetensors every --checkpoint-every steps and at the end (atomically: an interruption never
 * leaves a broken checkpoint), and RUN/train-log.csv at the end or on interruption. Ctrl-C stops after the current
 * step, saves the checkpoint, and tells how to resume: `medgen train --resume RUN` continues exactly where it stopped
 * (the same weights as a run that was never interrupted), whichever model the checkpoint holds. Both models share
 * everything here but their options, creation and training call. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli_util.h"
#include "medgen.h"
#include "medgen_commands.h"
#include "mg_io.h"
#include "mg_itk.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The models an option applies to (a mask); a run's model_kind is one of them, 0 while unknown (resume). */
enum { FOR_DDPM = 1, FOR_GAN = 2, FOR_CLASSIFIER = 4, FOR_GENERATIVE = FOR_DDPM | FOR_GAN, FOR_ALL = 7 };
enum { MAX_NOTE_OPTIONS = 8 };

typedef struct train_args {
  const char *model, *preset, *out;
  const char **data, **labels;  /* --data's paths and --labels' maps (into argv, or the resumed run's notes) */
  int n_data, n_labels;
  const char *val;              /* --val: the classifier's held-out folder (NULL: none) */
  const char *notes[MAX_NOTE_OPTIONS]; /* --note KEY=VALUE, as given */
  int n_notes;
  int model_kind;               /* FOR_DDPM, FOR_GAN or FOR_CLASSIFIER; 0 while unknown (resume) */
  bool resume, unconditional, tf32;
  int size, threads, max_per_class;
  const char *device;           /* --device: auto (NULL), cpu or cuda */
  const char *axis_name, *window_text; /* volumes: --axis and --window as given (NULL: not given) */
  mg_itk_axis axis;
  double window_low, window_high;
  mg_ddpm_config ddpm;          /* the preset with the overrides below applied */
  mg_ddpm_train_options ddpm_opt;
  mg_gan_config gan;
  mg_gan_train_options gan_opt;
  mg_classifier_options cls_opt;
  /* which options the user gave (resume accepts only some) */
  bool given_steps, given_every, given_other;
  const char *channel_mult, *attention; /* comma lists, applied after the preset */
} train_args;

static void print_help(FILE *out) {
  mg_ddpm_train_options d = mg_ddpm_default_train_options();
  mg_gan_train_options g = mg_gan_default_train_options();
  mg_classifier_options c = mg_classifier_default_options();
  fprintf(out,
          "Usage: medgen train --model ddpm|gan --data FOLDER --out RUN [options]\n"
          "       medgen train --model ddpm|gan --data VOLUME... [--labels MAP...] --out RUN [options]\n"
          "       medgen train --resume RUN [--data ...] [--steps N]\n"
          "       medgen train --model classifier --data FOLDER --out RUN [--val FOLDER] [options]\n"
          "\n"
          "Trains a diffusion model or a GAN on your images. FOLDER holds one subfolder per class (the folder names\n"
          "become the class names, e.g. MedNIST/HeadCT/*.jpeg), or the images directly for an unconditional model.\n"
          "Images may be PNG, JPEG, 2D NIfTI or any 2D image ITK reads: single-frame DICOM (with or without .dcm;\n"
          "rescale applied), TIFF, BMP, 2D NRRD or MetaImage. All are converted to grayscale and resized to --size.\n"
          "Volumes (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd files, DICOM series folders) are cut into slices along\n"
          "--axis in patient space; slices showing only background are skipped, the rest fitted into --size pixels\n"
          "(padded, never stretched) and normalized together (robust percentiles, or --window). Give the volumes\n"
          "one by one, or one FOLDER holding them, directly (unconditional) or in one subfolder per class (a DICOM\n"
          "series there is a folder of its own). --labels gives one label map per volume: a slice's class is then\n"
          "the highest label covering at least 10 of its voxels (\"label V\"), else \"background\".\n"
          "The run folder RUN receives checkpoint.safetensors (every --checkpoint-every steps and at the end) and\n"
          "train-log.csv. Ctrl-C stops after the current step and saves a checkpoint; --resume RUN continues exactly.\n"
          "A classifier (a small CNN: MedGen's feature extractor for evaluation) trains on a FOLDER of class\n"
          "subfolders of 2D images, in one go: RUN receives checkpoint.safetensors and train-log.csv at the end.\n"
          "\n"
          "Data and run:\n"
          "  --model ddpm|gan       the model family: a diffusion model (slow to sample, the best images) or a GAN\n"
          "                         (one network evaluation per image); or classifier (see below)\n"
          "  --data PATH...         training images: one folder of 2D images, or volumes (or one folder of them)\n"
          "                         (required; with --resume, defaults to the run's own)\n"
          "  --out RUN              run folder, created if needed (required unless --resume)\n"
          "  --size N               image size in pixels: 8 to 256 for ddpm, 32 to 256 and a power of two for gan\n"
          "                         (default: volumes 64; 2D images the first image's size, for gan the next power\n"
          "                         of two)\n"
          "  --max-per-class N      use at most N 2D images of each class (sorted names; default: all)\n"
          "  --unconditional        ignore the class folders\n"
          "  --resume RUN           continue the run in RUN from its checkpoint (either model); --data, --steps,\n"
          "                         --checkpoint-every, --threads, --device and --tf32 may be given with it (on\n"
          "                         another device or with --tf32, not bit for bit as an uninterrupted run)\n"
          "Volumes:\n"
          "  --axis NAME            axial (default), coronal or sagittal\n"
          "  --window LO,HI         fixed intensity window mapped to the model's range, e.g. -1000,1000 for CT in HU\n"
          "                         (default: the 0.5 and 99.5 percentiles of all slices)\n"
          "  --labels MAP...        one label map per --data volume, in the same order (same size and geometry)\n"
          "Training, both models:\n"
          "  --steps N              total training steps (default: ddpm %lld, gan %lld)\n"
          "  --batch N              images per step (default: ddpm %d, gan %d)\n"
          "  --ema-decay X          largest EMA decay (default: ddpm %g, gan %g)\n"
          "  --flip                 mirror half the images left-right (off by default: anatomy has a side)\n"
          "  --checkpoint-every N   steps between checkpoints (default %lld)\n"
          "  --seed S               random seed (default %llu)\n"
          "  --threads N            CPU threads (default: all cores); results are identical for any count\n"
          "  --device NAME          auto (default: the CUDA GPU when this build has the CUDA backend and the machine\n"
          "                         a usable GPU, else the CPU), cpu, or cuda (fails, saying why, without a usable\n"
          "                         GPU); the checkpoint notes it (run.device)\n"
          "  --tf32                 CUDA: TF32 tensor cores for convolutions and matrix products, faster, with\n"
          "                         relative errors of about 1e-3 (default: off, float32 throughout)\n"
          "Diffusion model (--model ddpm):\n"
          "  --lr X                 peak AdamW learning rate (default %g)\n"
          "  --warmup N             warm-up steps (default %lld), then cosine decay\n"
          "  --min-lr-ratio X       the cosine ends at X times the peak (default %g)\n"
          "  --weight-decay X       AdamW decoupled weight decay (default %g)\n"
          "  --clip X               gradient-norm clipping, 0 = off (default %g)\n"
          "  --class-dropout X      share of steps trained without the class, for guidance (default %g)\n"
          "  --preset NAME          unet-s (default; 4.6 M parameters) or unet-monai (MONAI's MedNIST tutorial)\n"
          "  --schedule NAME        linear (default) or cosine\n"
          "  --prediction NAME      epsilon (default) or v\n"
          "  --timesteps T          diffusion steps (default 1000)\n"
          "  --base-channels N      channels at full resolution\n"
          "  --channel-mult LIST    per-level multipliers, e.g. 1,2,2\n"
          "  --attention LIST       per-level attention flags, e.g. 0,1,1\n"
          "  --mid-attention 0|1    attention in the middle block\n"
          "  --res-blocks N         residual blocks per level\n"
          "  --head-channels N      channels per attention head\n"
          "  --groups N             GroupNorm groups\n"
          "  --temb-channels N      time-embedding width\n"
          "  --dropout X            dropout in residual blocks\n"
          "GAN (--model gan):\n"
          "  --preset NAME          dcgan-64 (default: latent 128, width 64)\n"
          "  --latent N             latent vector length, 1 to 1024\n"
          "  --width N              channels at full resolution, doubling per halving up to 8x, 4 to 512\n"
          "  --lr-g X, --lr-d X     Adam rates of the generator and the discriminator (default %g, %g)\n"
          "  --beta1 X, --beta2 X   Adam's betas (default %g, %g)\n"
          "  --loss NAME            hinge (default) or bce (non-saturating)\n"
          "  --augment-p X          probability of each augmentation before the discriminator (translation,\n"
          "                         cutout, brightness, contrast); with ADA its starting value (default %g)\n"
          "  --ada, --no-ada        adapt the probability to the discriminator's overfitting (default: on)\n"
          "  --ada-target X         ADA's target for r_t = E[sign(D(real))] (default %g)\n"
          "  --ada-kimg X           thousands of images over which p may move by 1 (default %g)\n"
          "Classifier (--model classifier; also --data FOLDER, --out, --size (a multiple of 4 from 16 to 256),\n"
          "--max-per-class, --steps (default %d), --batch (default %d), --seed, --threads, --device, --tf32):\n"
          "  --lr X                 peak AdamW learning rate (default %g)\n"
          "  --width N              channels of the first block, doubled per block up to 4x (default %d); the\n"
          "                         feature vector has 4*N values\n"
          "  --val FOLDER           held-out images in the same class subfolders: prints the accuracy per class and\n"
          "                         overall, and keeps it in the checkpoint (notes run.val_accuracy, run.val_images)\n"
          "  --note run.KEY=VALUE   a note kept in the checkpoint (up to %d), e.g. the recipe that trained it\n"
          "  -h, --help             show this help\n",
          (long long)d.steps, (long long)g.steps, d.batch, g.batch, d.ema_decay, g.ema_decay,
          (long long)d.checkpoint_every, (unsigned long long)d.seed, d.learning_rate, (long long)d.warmup_steps,
          d.min_lr_ratio, d.weight_decay, d.clip_norm, d.class_dropout, g.lr_g, g.lr_d, g.beta1, g.beta2,
          g.augment_p, g.ada_target, g.ada_kimg, c.steps, c.batch, c.learning_rate, c.width,
          MAX_NOTE_OPTIONS);
}

/* "1,2,2" -> values; returns the count, or -1 when malformed. */
static int parse_list(const char *s, int *values, int max, int lo, int hi) {
  int n = 0;
  const char *p = s;
  while (*p) {
    char item[32];
    size_t len = strcspn(p, ",");
    long v;
    if (n == max || len == 0 || len >= sizeof item) return -1;
    memcpy(item, p, len);
    item[len] = '\0';
    if (!cli_parse_long(item, lo, hi, &v)) return -1;
    values[n++] = (int)v;
    p += len;
    if (*p == ',') p++;
  }
  return n;
}

/* "LO,HI" with LO < HI -> the window; false when malformed. */
static bool parse_window(const char *s, double *low, double *high) {
  const char *comma = strchr(s, ',');
  char first[64];
  if (!comma || (size_t)(comma - s) >= sizeof first) return false;
  memcpy(first, s, (size_t)(comma - s));
  first[comma - s] = '\0';
  return cli_parse_double(first, -1e30, 1e30, low) && cli_parse_double(comma + 1, -1e30, 1e30, high) && *low < *high;
}

enum { OPT_FLAG, OPT_VALUE, OPT_LIST /* one or more values, up to the next "--" option */ };
typedef struct option_spec {
  const char *name;
  int kind;
  int models; /* the models that take it (FOR_* mask) */
} option_spec;

static const option_spec OPTIONS[] = {
    {"--model", OPT_VALUE, FOR_ALL}, {"--data", OPT_LIST, FOR_ALL}, {"--out", OPT_VALUE, FOR_ALL},
    {"--axis", OPT_VALUE, FOR_GENERATIVE}, {"--window", OPT_VALUE, FOR_GENERATIVE},
    {"--labels", OPT_LIST, FOR_GENERATIVE}, {"--size", OPT_VALUE, FOR_ALL}, {"--max-per-class", OPT_VALUE, FOR_ALL},
    {"--unconditional", OPT_FLAG, FOR_GENERATIVE}, {"--resume", OPT_VALUE, FOR_GENERATIVE},
    {"--steps", OPT_VALUE, FOR_ALL}, {"--batch", OPT_VALUE, FOR_ALL}, {"--ema-decay", OPT_VALUE, FOR_GENERATIVE},
    {"--flip", OPT_FLAG, FOR_GENERATIVE}, {"--checkpoint-every", OPT_VALUE, FOR_GENERATIVE},
    {"--seed", OPT_VALUE, FOR_ALL}, {"--threads", OPT_VALUE, FOR_ALL},
    {"--device", OPT_VALUE, FOR_ALL}, {"--tf32", OPT_FLAG, FOR_ALL}, {"--preset", OPT_VALUE, FOR_GENERATIVE},
    {"--val", OPT_VALUE, FOR_CLASSIFIER}, {"--note", OPT_VALUE, FOR_CLASSIFIER},
    {"--lr", OPT_VALUE, FOR_DDPM | FOR_CLASSIFIER}, {"--warmup", OPT_VALUE, FOR_DDPM},
    {"--min-lr-ratio", OPT_VALUE, FOR_DDPM},
    {"--weight-decay", OPT_VALUE, FOR_DDPM}, {"--clip", OPT_VALUE, FOR_DDPM},
    {"--class-dropout", OPT_VALUE, FOR_DDPM}, {"--schedule", OPT_VALUE, FOR_DDPM},
    {"--prediction", OPT_VALUE, FOR_DDPM}, {"--timesteps", OPT_VALUE, FOR_DDPM},
    {"--base-channels", OPT_VALUE, FOR_DDPM}, {"--channel-mult", OPT_VALUE, FOR_DDPM},
    {"--attention", OPT_VALUE, FOR_DDPM}, {"--mid-attention", OPT_VALUE, FOR_DDPM},
    {"--res-blocks", OPT_VALUE, FOR_DDPM}, {"--head-channels", OPT_VALUE, FOR_DDPM},
    {"--groups", OPT_VALUE, FOR_DDPM}, {"--temb-channels", OPT_VALUE, FOR_DDPM}, {"--dropout", OPT_VALUE, FOR_DDPM},
    {"--latent", OPT_VALUE, FOR_GAN}, {"--width", OPT_VALUE, FOR_GAN | FOR_CLASSIFIER}, {"--lr-g", OPT_VALUE, FOR_GAN},
    {"--lr-d", OPT_VALUE, FOR_GAN}, {"--beta1", OPT_VALUE, FOR_GAN}, {"--beta2", OPT_VALUE, FOR_GAN},
    {"--loss", OPT_VALUE, FOR_GAN}, {"--augment-p", OPT_VALUE, FOR_GAN}, {"--ada", OPT_FLAG, FOR_GAN},
    {"--no-ada", OPT_FLAG, FOR_GAN}, {"--ada-target", OPT_VALUE, FOR_GAN}, {"--ada-kimg", OPT_VALUE, FOR_GAN},
};
enum { N_OPTIONS = sizeof OPTIONS / sizeof *OPTIONS };

/* Applies one option; false when the value is malformed or out of range. Options several models take go into each
 * one's option set (only the chosen model's is used); model options go into the preset chosen beforehand. */
static bool apply(train_args *a, const char *name, const char *v) {
  long n = 0;
  double x = 0;
  mg_unet_config *u = &a->ddpm.unet;
  mg_ddpm_train_options *o = &a->ddpm_opt;
  mg_gan_train_options *g = &a->gan_opt;
  mg_classifier_options *c = &a->cls_opt;
#define IS(s) (!strcmp(name, s))
#define LONG(lo, hi, dst) (cli_parse_long(v, lo, hi, &n) ? ((dst) = n, true) : false)
#define REAL(lo, hi, dst) (cli_parse_double(v, lo, hi, &x) ? ((dst) = x, true) : false)
  if (IS("--resume")) return (a->out = v), (a->resume = true);
  if (IS("--threads")) return LONG(1, 1024, a->threads);
  if (IS("--device")) return (a->device = v), true; /* checked once all options are read */
  if (IS("--tf32")) return (a->tf32 = true);
  if (IS("--steps"))
    return (a->given_steps = true), LONG(1, 1000000000L, o->steps) && (g->steps = c->steps = (int)o->steps, true);
  if (IS("--checkpoint-every"))
    return (a->given_every = true), LONG(0, 1000000000L, o->checkpoint_every) &&
                                        (g->checkpoint_every = o->checkpoint_every, true);
  a->given_other = true; /* everything below is fixed once a run exists */
  if (IS("--model") || IS("--preset")) return true; /* read before the others */
  if (IS("--out")) return (a->out = v), true;
  if (IS("--unconditional")) return (a->unconditional = true);
  if (IS("--flip")) return (o->flip_horizontal = g->flip_horizontal = 1), true;
  if (IS("--size")) return LONG(8, 256, a->size);
  if (IS("--max-per-class")) return LONG(1, 100000000, a->max_per_class);
  if (IS("--axis")) return (a->axis_name = v), mg_itk_axis_parse(v, &a->axis);
  if (IS("--window")) return (a->window_text = v), parse_window(v, &a->window_low, &a->window_high);
  if (IS("--batch")) return LONG(1, 1024, o->batch) && (g->batch = c->batch = o->batch, true);
  if (IS("--ema-decay")) return REAL(0, 0.999999, o->ema_decay) && (g->ema_decay = o->ema_decay, true);
  if (IS("--seed")) return cli_parse_u64(v, &o->seed) && (g->seed = c->seed = o->seed, true);
  if (IS("--val")) return (a->val = v), true;
  if (IS("--note"))
    return a->n_notes < MAX_NOTE_OPTIONS && !strncmp(v, "run.", 4) && strchr(v, '=') > v + 4 &&
           (a->notes[a->n_notes++] = v, true);
  /* diffusion model */
  if (IS("--lr")) return REAL(1e-12, 1, o->learning_rate) && (c->learning_rate = o->learning_rate, true);
  if (IS("--warmup")) return LONG(0, 1000000000L, o->warmup_steps);
  if (IS("--min-lr-ratio")) return REAL(0, 1, o->min_lr_ratio);
  if (IS("--weight-decay")) return REAL(0, 0.999, o->weight_decay);
  if (IS("--clip")) return REAL(0, 1e9, o->clip_norm);
  if (IS("--class-dropout")) return REAL(0, 0.99, o->class_dropout);
  if (IS("--schedule")) return (n = mg_noise_schedule_from_name(v)) >= 0 && (a->ddpm.schedule = n, true);
  if (IS("--prediction")) return (n = mg_prediction_from_name(v)) >= 0 && (a->ddpm.prediction = n, true);
  if (IS("--timesteps")) return LONG(10, 10000, a->ddpm.timesteps);
  if (IS("--base-channels")) return LONG(1, 4096, u->base_channels);
  if (IS("--channel-mult")) return (a->channel_mult = v), true;
  if (IS("--attention")) return (a->attention = v), true;
  if (IS("--mid-attention")) return LONG(0, 1, u->mid_attention);
  if (IS("--res-blocks")) return LONG(1, 16, u->res_blocks);
  if (IS("--head-channels")) return LONG(1, 4096, u->head_channels);
  if (IS("--groups")) return LONG(1, 4096, u->groups);
  if (IS("--temb-channels")) return LONG(1, 65536, u->temb_channels);
  if (IS("--dropout")) return REAL(0, 0.99, u->dropout);
  /* GAN */
  if (IS("--latent")) return LONG(1, 1024, a->gan.latent_dim);
  if (IS("--width")) return LONG(4, 512, a->gan.width) && (c->width = a->gan.width, true);
  if (IS("--lr-g")) return REAL(1e-12, 1, g->lr_g);
  if (IS("--lr-d")) return REAL(1e-12, 1, g->lr_d);
  if (IS("--beta1")) return REAL(0, 0.9999, g->beta1);
  if (IS("--beta2")) return REAL(0, 0.999999, g->beta2);
  if (IS("--loss")) return (n = mg_gan_loss_from_name(v)) >= 0 && (g->loss = n, true);
  if (IS("--augment-p")) return REAL(0, 1, g->augment_p);
  if (IS("--ada")) return (g->ada = 1), true;
  if (IS("--no-ada")) return (g->ada = 0), true;
  if (IS("--ada-target")) return REAL(0, 1, g->ada_target);
  if (IS("--ada-kimg")) return REAL(1e-3, 1e6, g->ada_kimg);
  return false;
#undef IS
#undef LONG
#undef REAL
}

/* The models of a FOR_* mask, for messages: "ddpm", "ddpm or classifier", ... */
static const char *model_names(int models, char *buf, size_t size) {
  static const char *const names[] = {"ddpm", "gan", "classifier"};
  buf[0] = '\0';
  for (int k = 0, n = 0; k < 3; k++)
    if (models & (1 << k)) snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", n++ ? " or " : "", names[k]);
  return buf;
}

/* Returns 0 to run, 1 for help, 2 on a usage error (reported). */
static int parse_args(int argc, char **argv, train_args *a) {
  memset(a, 0, sizeof *a);
  a->ddpm_opt = mg_ddpm_default_train_options();
  a->gan_opt = mg_gan_default_train_options();
  a->cls_opt = mg_classifier_default_options();
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      print_help(stdout);
      return 1;
    }
    if (!strcmp(argv[i], "--preset") && i + 1 < argc) a->preset = argv[i + 1];
    if (!strcmp(argv[i], "--model") && i + 1 < argc) a->model = argv[i + 1];
  }
  if (a->model) {
    a->model_kind = !strcmp(a->model, "ddpm")         ? FOR_DDPM
                    : !strcmp(a->model, "gan")        ? FOR_GAN
                    : !strcmp(a->model, "classifier") ? FOR_CLASSIFIER
                                                      : -1;
    if (a->model_kind < 0) {
      fprintf(stderr, "medgen train: unknown --model '%s': use ddpm, gan or classifier (try: medgen train --help)\n",
              a->model);
      return 2;
    }
  }
  if (a->model_kind == FOR_DDPM || a->model_kind == FOR_GAN) {
    char err[512];
    mg_status st = a->model_kind == FOR_GAN
                       ? mg_gan_preset(a->preset ? a->preset : "dcgan-64", &a->gan, err, sizeof err)
                       : mg_ddpm_default_config(a->preset ? a->preset : "unet-s", &a->ddpm, err, sizeof err);
    if (st != MG_OK) {
      fprintf(stderr, "medgen train: %s\n", err);
      return 2;
    }
  }
  for (int i = 1; i < argc; i++) {
    const option_spec *spec = NULL;
    for (int k = 0; k < N_OPTIONS; k++)
      if (!strcmp(argv[i], OPTIONS[k].name)) spec = &OPTIONS[k];
    if (!spec) {
      fprintf(stderr, "medgen train: unknown option '%s' (try: medgen train --help)\n", argv[i]);
      return 2;
    }
    if (a->model_kind && !(spec->models & a->model_kind)) {
      char names[64];
      fprintf(stderr, "medgen train: %s is an option of --model %s, not of --model %s (try: medgen train --help)\n",
              spec->name, model_names(spec->models, names, sizeof names), a->model);
      return 2;
    }
    if (spec->kind == OPT_LIST) { /* the values stay in argv */
      int n = 0;
      while (i + 1 + n < argc && strncmp(argv[i + 1 + n], "--", 2)) n++;
      if (n == 0) {
        fprintf(stderr, "medgen train: %s needs at least one path (try: medgen train --help)\n", argv[i]);
        return 2;
      }
      bool data = !strcmp(spec->name, "--data");
      *(data ? &a->data : &a->labels) = (const char **)&argv[i + 1];
      *(data ? &a->n_data : &a->n_labels) = n;
      a->given_other |= !data;
      i += n;
      continue;
    }
    const char *v = NULL;
    if (spec->kind == OPT_VALUE) {
      if (i + 1 >= argc) {
        fprintf(stderr, "medgen train: %s needs a value (try: medgen train --help)\n", argv[i]);
        return 2;
      }
      v = argv[++i];
    }
    if (!apply(a, spec->name, v)) {
      fprintf(stderr, "medgen train: invalid value '%s' for %s (try: medgen train --help)\n", v ? v : "",
              spec->name);
      return 2;
    }
  }
  if (cli_check_device("medgen train", a->device)) return 2;
  mg_unet_config *u = &a->ddpm.unet;
  if (a->channel_mult) {
    int n = parse_list(a->channel_mult, u->channel_mult, MG_UNET_MAX_LEVELS, 1, 64);
    if (n < 1) {
      fprintf(stderr, "medgen train: --channel-mult '%s': give 1 to %d multipliers like 1,2,2\n", a->channel_mult,
              MG_UNET_MAX_LEVELS);
      return 2;
    }
    for (int l = u->levels; l < n; l++) u->attention[l] = 0;
    u->levels = n;
  }
  if (a->attention && parse_list(a->attention, u->attention, MG_UNET_MAX_LEVELS, 0, 1) != u->levels) {
    fprintf(stderr, "medgen train: --attention '%s': give one 0 or 1 per level (%d levels)\n", a->attention,
            u->levels);
    return 2;
  }
  if (a->resume) {
    if (a->given_other) {
      fprintf(stderr, "medgen train: --resume continues a run as it was: only --data, --steps, --checkpoint-every, "
                      "--threads, --device and --tf32 may be given with it\n");
      return 2;
    }
    return 0;
  }
  if (!a->model) {
    fprintf(stderr, "medgen train: --model is required: ddpm, gan or classifier (try: medgen train --help)\n");
    return 2;
  }
  if (!a->data || !a->out) {
    fprintf(stderr, "medgen train: --data and --out are required (try: medgen train --help)\n");
    return 2;
  }
  return 0;
}

/* One volume to read: its path, class (NULL: none) and label map (NULL: none, else points into argv or a note). */
typedef struct volume_input {
  char *path, *class_name;
  const char *label_map;
} volume_input;

typedef struct train_state {
  mg_ctx *ctx;
  mg_device device;        /* where ctx computes */
  mg_image_folder folder;  /* 2D images */
  volume_input *volumes;   /* or volumes, cut into slices */
  int n_volumes, volumes_cap;
  mg_itk_slices *slices;
  char *data_note, *labels_note; /* a resumed run's path notes, split in place into the lists below */
  const char **data_list, **labels_list;
  cli_model model;
  mg_checkpoint *ckpt;
  cli_text log;
} train_state;

static int finish(train_state *s, int code) {
  cli_model_free(&s->model);
  mg_checkpoint_free(s->ckpt);
  mg_image_folder_free(&s->folder);
  for (int i = 0; i < s->n_volumes; i++) free(s->volumes[i].path), free(s->volumes[i].class_name);
  free(s->volumes);
  mg_itk_slices_free(s->slices);
  free(s->data_note), free(s->labels_note), free(s->data_list), free(s->labels_list);
  cli_text_free(&s->log);
  mg_context_free(s->ctx);
  return code;
}

/* ---- Volumes: which paths --data names, and their slices ---- */
enum { DATA_ERROR = -1, DATA_IMAGES, DATA_VOLUMES_LISTED, DATA_VOLUME_FOLDER };
enum { DEFAULT_VOLUME_SIZE = 64 };

static bool add_volume(train_state *s, const char *path, const char *class_name) {
  if (s->n_volumes == s->volumes_cap) {
    int cap = s->volumes_cap ? 2 * s->volumes_cap : 16;
    volume_input *grown = realloc(s->volumes, (size_t)cap * sizeof *grown);
    if (!grown) return false;
    s->volumes = grown, s->volumes_cap = cap;
  }
  volume_input v = {strdup(path), class_name ? strdup(class_name) : NULL, NULL};
  if (!v.path || (class_name && !v.class_name)) return free(v.path), free(v.class_name), false;
  s->volumes[s->n_volumes++] = v;
  return true;
}

static bool is_folder(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* README and text files may sit among images or volumes (mg_image_folder_read skips them too). */
static bool is_text_file(const char *path) {
  const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  size_t n = strlen(name);
  if (!strncasecmp(name, "README", 6)) return true;
  for (const char *const *ext = (const char *const[]){".txt", ".md", ".csv", ".json", NULL}; *ext; ext++)
    if (n >= strlen(*ext) && !strcasecmp(name + n - strlen(*ext), *ext)) return true;
  return false;
}

static int compare_paths(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static void free_paths(char **paths, int n) {
  for (int i = 0; i < n; i++) free(paths[i]);
  free(paths);
}

/* The visible entries of folder as full paths, sorted by name; false (errno set) when it cannot be read. */
static bool list_folder(const char *folder, char ***out, int *count) {
  DIR *d = opendir(folder);
  if (!d) return false;
  char **paths = NULL;
  int n = 0, cap = 0;
  bool ok = true;
  for (struct dirent *e; ok && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue; /* hidden, and "." and ".." */
    if (n == cap) {
      char **grown = realloc(paths, (size_t)(cap = cap ? 2 * cap : 32) * sizeof *grown);
      if (!(ok = grown != NULL)) break;
      paths = grown;
    }
    size_t len = strlen(folder) + strlen(e->d_name) + 2;
    if ((ok = (paths[n] = malloc(len)) != NULL)) snprintf(paths[n++], len, "%s/%s", folder, e->d_name);
  }
  closedir(d);
  if (!ok) {
    free_paths(paths, n);
    errno = ENOMEM;
    return false;
  }
  if (n > 1) qsort(paths, (size_t)n, sizeof *paths, compare_paths);
  *out = paths, *count = n;
  return true;
}

/* One entry met while scanning a folder given as --data (volume: mg_itk_is_volume_path's answer, which scans a
 * DICOM folder's headers, so it is asked once); so_far is what the entries before it said (-2: nothing yet). The
 * first image or volume decides whether the folder holds 2D images or volumes. */
static int take_entry(train_state *s, const char *path, bool volume, const char *class_name, int so_far, char *err,
                      size_t err_size) {
  if (is_text_file(path) && !is_folder(path)) return so_far;
  if (so_far == -2 && !volume) return DATA_IMAGES;
  if (!volume) {
    snprintf(err, err_size, "%s: neither a volume nor a text file, in a folder of volumes (a folder holds either "
             "2D images or volumes: .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, DICOM series folders)", path);
    return DATA_ERROR;
  }
  if (!add_volume(s, path, class_name)) {
    snprintf(err, err_size, "%s: out of memory", path);
    return DATA_ERROR;
  }
  return DATA_VOLUME_FOLDER;
}

/* One folder as --data: volumes in it (unconditional) or in class subfolders named after them, else 2D images. */
static int scan_folder(train_state *s, const char *folder, char *err, size_t err_size) {
  char **top, **sub;
  int n_top, n_sub, kind = -2;
  if (!list_folder(folder, &top, &n_top)) {
    snprintf(err, err_size, "%s: cannot read the folder (%s)", folder, strerror(errno));
    return DATA_ERROR;
  }
  for (int i = 0; i < n_top && kind != DATA_ERROR && kind != DATA_IMAGES; i++) {
    const bool volume = mg_itk_is_volume_path(top[i]);
    if (!is_folder(top[i]) || volume) {
      kind = take_entry(s, top[i], volume, NULL, kind, err, err_size);
      continue;
    }
    if (!list_folder(top[i], &sub, &n_sub)) {
      snprintf(err, err_size, "%s: cannot read the folder (%s)", top[i], strerror(errno));
      kind = DATA_ERROR;
      break;
    }
    for (int j = 0; j < n_sub && kind != DATA_ERROR && kind != DATA_IMAGES; j++)
      kind = take_entry(s, sub[j], mg_itk_is_volume_path(sub[j]), strrchr(top[i], '/') + 1, kind, err, err_size);
    free_paths(sub, n_sub);
  }
  free_paths(top, n_top);
  return kind == -2 ? DATA_IMAGES : kind;
}

/* What --data names: one folder of 2D images, volumes listed one by one, or one folder of volumes (listed into
 * s->volumes). */
static int find_data(train_state *s, const train_args *a, char *err, size_t err_size) {
  if (a->n_data == 1 && is_folder(a->data[0]) && !mg_itk_is_volume_path(a->data[0]))
    return scan_folder(s, a->data[0], err, err_size);
  for (int i = 0; i < a->n_data; i++) {
    const char *path = a->data[i];
    struct stat st;
    if (mg_itk_is_volume_path(path)) {
      if (!add_volume(s, path, NULL)) return snprintf(err, err_size, "%s: out of memory", path), DATA_ERROR;
    } else if (stat(path, &st) != 0) {
      return snprintf(err, err_size, "%s: %s", path, errno == ENOENT ? "does not exist" : strerror(errno)),
             DATA_ERROR;
    } else if (S_ISDIR(st.st_mode)) {
      return snprintf(err, err_size, "%s: a folder without a DICOM series: a folder of 2D images must be the only "
                      "--data (volumes and 2D image folders cannot be mixed)", path), DATA_ERROR;
    } else {
      return snprintf(err, err_size, "%s: not a volume (a 2D image trains only in a folder of 2D images): give "
                      ".nii, .nii.gz, .nrrd, .nhdr, .mha or .mhd files, DICOM series folders, or one folder of 2D "
                      "images", path), DATA_ERROR;
    }
  }
  return DATA_VOLUMES_LISTED;
}

/* Cuts every volume into slices (printing what each gave) and normalizes them all into data. */
static bool read_volumes(train_state *s, const train_args *a, mg_dataset *data, char *err, size_t err_size) {
  const mg_itk_slice_options o = {a->axis, a->size, a->window_text != NULL, a->window_low, a->window_high};
  if (mg_itk_slices_create(&o, &s->slices, err, err_size) != MG_OK) return false;
  for (int i = 0; i < s->n_volumes; i++) {
    const volume_input *v = &s->volumes[i];
    int kept;
    if (mg_itk_slices_add(s->slices, v->path, v->class_name, v->label_map, &kept, err, err_size) != MG_OK)
      return false;
    printf("medgen train: %s: %d %s slice%s%s%s%s%s\n", v->path, kept, mg_itk_axis_name(a->axis),
           kept == 1 ? "" : "s", v->class_name ? ", class " : "", v->class_name ? v->class_name : "",
           v->label_map ? ", classes from " : "", v->label_map ? v->label_map : "");
    fflush(stdout);
  }
  return mg_itk_slices_dataset(s->slices, data, err, err_size) == MG_OK;
}

/* A resumed run's newline-separated paths note, split into items pointing into a copy. */
static bool split_note(const char *note, char **copy, const char ***items, int *count) {
  int n = 1;
  for (const char *p = note; *p; p++) n += *p == '\n';
  *copy = strdup(note);
  *items = malloc((size_t)n * sizeof **items);
  if (!*copy || !*items) return false;
  n = 0;
  for (char *p = *copy;;) {
    (*items)[n++] = p;
    char *end = strchr(p, '\n');
    if (!end) break;
    *end = '\0';
    p = end + 1;
  }
  *count = n;
  return true;
}

/* Paths joined by newlines, as notes keep them; absolute, so that --resume finds the data from any directory. */
static mg_status set_paths_note(cli_model *m, const char *key, const char *const *paths, int n) {
  cli_text t = {0};
  for (int i = 0; i < n; i++) {
    char *absolute = realpath(paths[i], NULL); /* the paths were just read: NULL only when out of memory */
    cli_text_append(&t, "%s%s", i ? "\n" : "", absolute ? absolute : paths[i]);
    free(absolute);
  }
  mg_status st = t.failed ? MG_ERR_OUT_OF_MEMORY : cli_model_set_note(m, key, t.data ? t.data : "");
  cli_text_free(&t);
  return st;
}

static void print_model(const cli_model *m, const char *how) {
  if (m->gan) {
    const mg_gan_config *c = mg_gan_get_config(m->gan);
    mg_gan_train_options o = mg_gan_train_options_of(m->gan);
    printf("medgen train: %s a GAN: generator of %.2f M and discriminator of %.2f M parameters, %dx%d, latent %d, "
           "width %d; %s loss, augmentation p %g%s; %d classes\n",
           how, mg_gan_generator_parameter_count(m->gan) / 1e6, mg_gan_discriminator_parameter_count(m->gan) / 1e6,
           c->image_size, c->image_size, c->latent_dim, c->width, mg_gan_loss_name(o.loss),
           mg_gan_training_state_of(m->gan).augment_p, o.ada ? " (adaptive)" : "", c->num_classes);
    return;
  }
  const mg_ddpm_config *c = mg_ddpm_get_config(m->ddpm);
  const mg_unet_config *u = &c->unet;
  char mult[64] = "", att[64] = "";
  for (int l = 0; l < u->levels; l++) {
    snprintf(mult + strlen(mult), sizeof mult - strlen(mult), "%s%d", l ? "," : "", u->channel_mult[l]);
    snprintf(att + strlen(att), sizeof att - strlen(att), "%s%d", l ? "," : "", u->attention[l] != 0);
  }
  printf("medgen train: %s a DDPM UNet of %.2f M parameters: %dx%d, base %d, mult %s, attention %s (+middle %d), "
         "%d res blocks; %s schedule, T=%d, %s prediction; %d classes\n",
         how, mg_ddpm_parameter_count(m->ddpm) / 1e6, u->image_size, u->image_size, u->base_channels, mult, att,
         u->mid_attention != 0, u->res_blocks, mg_noise_schedule_name(c->schedule), c->timesteps,
         mg_prediction_name(c->prediction), u->num_classes);
}

/* A resumed run takes its steps and checkpoint settings from the command line, the rest from its checkpoint. */
static bool update_resumed_options(mg_ctx *ctx, const train_args *a, cli_model *m, const char *ckpt_path) {
  int64_t steps, done = cli_model_step(m);
  mg_status st;
  if (m->gan) {
    mg_gan_train_options o = mg_gan_train_options_of(m->gan);
    if (a->given_steps) o.steps = a->gan_opt.steps;
    if (a->given_every) o.checkpoint_every = a->gan_opt.checkpoint_every;
    o.checkpoint_path = ckpt_path;
    steps = o.steps;
    st = steps > done ? mg_gan_set_train_options(m->gan, &o) : MG_OK;
  } else {
    mg_ddpm_train_options o = mg_ddpm_train_options_of(m->ddpm);
    if (a->given_steps) o.steps = a->ddpm_opt.steps;
    if (a->given_every) o.checkpoint_every = a->ddpm_opt.checkpoint_every;
    o.checkpoint_path = ckpt_path;
    steps = o.steps;
    st = steps > done ? mg_ddpm_set_train_options(m->ddpm, &o) : MG_OK;
  }
  if (steps <= done) {
    fprintf(stderr, "medgen train: %s has already done %lld of %lld steps: pass --steps N (more) to go on\n",
            ckpt_path, (long long)done, (long long)steps);
    return false;
  }
  if (st != MG_OK) fprintf(stderr, "medgen train: %s\n", mg_context_error(ctx));
  return st == MG_OK;
}

/* The image sizes a GAN takes (mg_gan_config_check), and the one a GAN resizes other images to. */
static bool gan_size_ok(int size) { return size >= 32 && size <= 256 && (size & (size - 1)) == 0; }
static int next_gan_size(int size) {
  int s = 32;
  while (s < size && s < 256) s *= 2;
  return s;
}

/* Checks the model against --size before minutes of reading images. */
static bool check_model_size(const train_args *a, char *err, size_t err_size) {
  if (a->model_kind == FOR_GAN) {
    mg_gan_config c = a->gan;
    c.image_size = a->size;
    return mg_gan_config_check(&c, err, err_size) == MG_OK;
  }
  mg_unet_config u = a->ddpm.unet;
  u.image_size = a->size;
  return mg_unet_config_check(&u, err, err_size) == MG_OK;
}

static mg_status create_model(mg_ctx *ctx, train_args *a, const mg_dataset *data, const char *ckpt_path,
                              cli_model *m) {
  if (a->model_kind == FOR_GAN) {
    a->gan.image_size = data->size;
    a->gan.channels = data->channels;
    a->gan.num_classes = data->num_classes;
    a->gan_opt.checkpoint_path = ckpt_path;
    return mg_gan_create(ctx, &a->gan, &a->gan_opt, &m->gan);
  }
  a->ddpm.unet.image_size = data->size;
  a->ddpm.unet.in_channels = data->channels;
  a->ddpm.unet.num_classes = data->num_classes;
  a->ddpm_opt.checkpoint_path = ckpt_path;
  return mg_ddpm_create(ctx, &a->ddpm, &a->ddpm_opt, &m->ddpm);
}

/* ---- The classifier: labelled 2D images in, one checkpoint at the end ---- */

/* Prints "; classes: A 10, B 12" for a labelled dataset. */
static void print_class_counts(const mg_dataset *data) {
  int counts[MG_MAX_CLASSES] = {0};
  for (int i = 0; data->labels && i < data->count; i++) counts[data->labels[i]]++;
  for (int c = 0; c < data->num_classes; c++)
    printf("%s%s %d", c ? ", " : "; classes: ", data->class_names[c], counts[c]);
}

/* A note holding path made absolute (the path was just read: realpath fails only when out of memory). */
static mg_status set_path_note(mg_classifier *c, const char *key, const char *path) {
  char *absolute = realpath(path, NULL);
  mg_status st = mg_classifier_set_note(c, key, absolute ? absolute : path);
  free(absolute);
  return st;
}

/* Reads --val at the training size, in the training data's terms (mg_image_folder_match): the same classes by name
 * and the same intensity mapping. false with the message in err. */
static bool read_val(const train_args *a, const mg_dataset *train, mg_image_folder *val, char *err, size_t err_size) {
  if (mg_image_folder_read(a->val, train->size, 0, mg_itk_image_read, val, err, err_size) != MG_OK) return false;
  if (val->data.num_classes != train->num_classes) {
    snprintf(err, err_size, "%s: --val has %d class folders, the training data %s has %d: give held-out images of the "
             "same classes", a->val, val->data.num_classes, a->data[0], train->num_classes);
    return false;
  }
  return mg_image_folder_match(val, a->val, train, err, err_size) == MG_OK;
}

/* Classifies the held-out images, prints the accuracy per class and overall, and keeps it as notes. */
static bool evaluate_val(mg_ctx *ctx, mg_classifier *c, const train_args *a, const mg_dataset *val) {
  int32_t *predicted = malloc((size_t)val->count * sizeof *predicted);
  if (!predicted || mg_classifier_predict(c, val->images, val->count, predicted, NULL) != MG_OK) {
    fprintf(stderr, "medgen train: %s: %s\n", a->val, predicted ? mg_context_error(ctx) : "out of memory");
    free(predicted);
    return false;
  }
  const int K = mg_classifier_num_classes(c);
  int right[MG_MAX_CLASSES] = {0}, total[MG_MAX_CLASSES] = {0}, all_right = 0;
  for (int i = 0; i < val->count; i++) {
    total[val->labels[i]]++;
    right[val->labels[i]] += predicted[i] == val->labels[i];
    all_right += predicted[i] == val->labels[i];
  }
  free(predicted);
  char accuracy[32], images[32], per_class[MG_MAX_CLASSES * 80];
  double overall = (double)all_right / val->count;
  printf("medgen train: accuracy on %s: %.4f (%d of %d images)\n", a->val, overall, all_right, val->count);
  snprintf(per_class, sizeof per_class, "{");
  for (int k = 0; k < K; k++) {
    double acc = total[k] ? (double)right[k] / total[k] : 0;
    printf("  %-20s %.4f (%d of %d)\n", mg_classifier_class_name(c, k), acc, right[k], total[k]);
    snprintf(per_class + strlen(per_class), sizeof per_class - strlen(per_class), "%s\"%s\":%.4f", k ? "," : "",
             mg_classifier_class_name(c, k), acc);
  }
  snprintf(per_class + strlen(per_class), sizeof per_class - strlen(per_class), "}");
  snprintf(accuracy, sizeof accuracy, "%.4f", overall);
  snprintf(images, sizeof images, "%d", val->count);
  if (mg_classifier_set_note(c, "run.val_accuracy", accuracy) || mg_classifier_set_note(c, "run.val_images", images) ||
      mg_classifier_set_note(c, "run.val_class_accuracy", per_class) || set_path_note(c, "run.val_data", a->val)) {
    fprintf(stderr, "medgen train: %s\n", mg_context_error(ctx));
    return false;
  }
  return true;
}

/* `medgen train --model classifier`: returns the exit code. */
static int train_classifier(train_state *s, const train_args *a, const char *ckpt_path, const char *log_path) {
  char err[6144];
  struct stat st;
  if (stat(ckpt_path, &st) == 0) {
    fprintf(stderr, "medgen train: %s already exists: choose another --out\n", ckpt_path);
    return 1;
  }
  if (a->n_data != 1 || !is_folder(a->data[0])) {
    fprintf(stderr, "medgen train: --model classifier trains on one folder of 2D images in class subfolders; %s is "
            "not a folder\n", a->data[0]);
    return 1;
  }
  double t0 = cli_now_s();
  if (mg_image_folder_read(a->data[0], a->size, a->max_per_class, mg_itk_image_read, &s->folder, err, sizeof err) !=
      MG_OK) {
    fprintf(stderr, "medgen train: %s\n", err);
    return 1;
  }
  const mg_dataset *data = &s->folder.data;
  if (data->num_classes < 2) {
    fprintf(stderr, "medgen train: %s: a classifier needs labelled images: one subfolder per class, at least 2 "
            "(found %s)\n", a->data[0], data->num_classes ? "one class folder" : "images without class folders");
    return 1;
  }
  printf("medgen train: %s: %d images at %dx%d", a->data[0], data->count, data->size, data->size);
  print_class_counts(data);
  printf(" (read in %.1f s)\n", cli_now_s() - t0);
  mg_image_folder val = {0};
  if (a->val && !read_val(a, data, &val, err, sizeof err)) {
    fprintf(stderr, "medgen train: %s\n", err);
    mg_image_folder_free(&val);
    return 1;
  }
  if (a->val) printf("medgen train: held out: %s: %d images\n", a->val, val.data.count);
  if (!cli_make_dir(a->out)) {
    fprintf(stderr, "medgen train: cannot create the run folder %s: %s\n", a->out, strerror(errno));
    mg_image_folder_free(&val);
    return 1;
  }
  const mg_classifier_options *o = &a->cls_opt;
  char where[64];
  printf("medgen train: a classifier of width %d (features: %d values), steps %d, batch %d, lr %g, %s; "
         "checkpoint to %s\n", o->width, 4 * o->width, o->steps, o->batch, o->learning_rate,
         cli_device_text(s->ctx, s->device, a->tf32, where, sizeof where), ckpt_path);
  fflush(stdout);
  cli_train_progress progress = {.batch = o->batch, .report_every = o->steps / 100 > 10 ? o->steps / 100 : 10,
                                 .log = &s->log};
  cli_text_append(&s->log, "%s", cli_train_log_header(&progress));
  mg_classifier *c = NULL;
  cli_catch_interrupt();
  mg_status trained = mg_classifier_train(s->ctx, data, o, cli_on_train_progress, &progress, &c);
  cli_release_interrupt();
  if (!s->log.failed && mg_file_write_atomic(log_path, s->log.data, s->log.len, err, sizeof err) != MG_OK)
    fprintf(stderr, "medgen train: %s\n", err);
  bool ok = trained == MG_OK;
  if (!ok)
    fprintf(stderr, "medgen train: %s%s\n", mg_context_error(s->ctx),
            trained == MG_ERR_CANCELLED ? " (a classifier trains in one go: nothing was saved)" : "");
  char max_pc[32];
  snprintf(max_pc, sizeof max_pc, "%d", a->max_per_class);
  if (ok && (set_path_note(c, "run.data", a->data[0]) || mg_classifier_set_note(c, "run.max_per_class", max_pc) ||
             mg_classifier_set_note(c, "run.device", mg_device_name(s->device)) ||
             mg_classifier_set_note(c, "run.tf32", cli_tf32_note(s->device, a->tf32)))) {
    fprintf(stderr, "medgen train: %s\n", mg_context_error(s->ctx));
    ok = false;
  }
  for (int i = 0; ok && i < a->n_notes; i++) {
    char key[256];
    size_t len = (size_t)(strchr(a->notes[i], '=') - a->notes[i]);
    snprintf(key, sizeof key, "%.*s", (int)(len < sizeof key ? len : sizeof key - 1), a->notes[i]);
    if (mg_classifier_set_note(c, key, a->notes[i] + len + 1)) {
      fprintf(stderr, "medgen train: %s\n", mg_context_error(s->ctx));
      ok = false;
    }
  }
  ok = ok && (!a->val || evaluate_val(s->ctx, c, a, &val.data));
  mg_image_folder_free(&val);
  if (ok && mg_classifier_save(c, ckpt_path, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen train: %s\n", err);
    ok = false;
  }
  mg_classifier_free(c);
  if (!ok) return 1;
  char took[32];
  cli_format_duration(cli_now_s() - t0, took, sizeof took);
  printf("medgen train: done in %s: %s (describe it with: medgen info %s)\n", took, ckpt_path, ckpt_path);
  return 0;
}

int medgen_cmd_train(int argc, char **argv) {
  train_args a;
  int parsed = parse_args(argc, argv, &a);
  if (parsed) return parsed == 1 ? 0 : 2;
  train_state s = {0};
  char err[6144];
  char ckpt_path[4096], log_path[4096];
  snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint.safetensors", a.out);
  snprintf(log_path, sizeof log_path, "%s/train-log.csv", a.out);

  /* first: a device that cannot be used fails before anything is read or written */
  int started = cli_context_create("medgen train", a.device, a.threads, a.tf32, &s.ctx, &s.device);
  if (started) return started;
  if (a.model_kind == FOR_CLASSIFIER) return finish(&s, train_classifier(&s, &a, ckpt_path, log_path));
  /* a resumed run: its checkpoint gives the model, the options and (unless --data) the data and how it was read */
  if (a.resume) {
    if (mg_checkpoint_load(ckpt_path, &s.ckpt, err, sizeof err) != MG_OK ||
        !cli_model_load(s.ctx, s.ckpt, MG_WEIGHTS_TRAINING, &s.model, err, sizeof err)) {
      fprintf(stderr, "medgen train: cannot resume: %s\n", err);
      return finish(&s, 1);
    }
    const char *data_note = cli_model_note(&s.model, "run.data"), *labels_note = cli_model_note(&s.model, "run.labels");
    const char *axis_note = cli_model_note(&s.model, "run.axis"), *window_note = cli_model_note(&s.model, "run.window");
    const char *max_pc = cli_model_note(&s.model, "run.max_per_class");
    long mpc = 0;
    if (max_pc && cli_parse_long(max_pc, 0, 100000000, &mpc)) a.max_per_class = (int)mpc;
    if ((!a.data && data_note && !split_note(data_note, &s.data_note, &s.data_list, &a.n_data)) ||
        (labels_note && !split_note(labels_note, &s.labels_note, &s.labels_list, &a.n_labels))) {
      fprintf(stderr, "medgen train: out of memory\n");
      return finish(&s, 1);
    }
    if (!a.data) a.data = s.data_list;
    if (labels_note) a.labels = s.labels_list;
    if (axis_note && !mg_itk_axis_parse((a.axis_name = axis_note), &a.axis)) a.axis_name = NULL;
    if (window_note && strcmp(window_note, "percentiles") &&
        parse_window(window_note, &a.window_low, &a.window_high))
      a.window_text = window_note;
    if (!a.data) {
      fprintf(stderr, "medgen train: %s does not say where its data is: give --data\n", ckpt_path);
      return finish(&s, 1);
    }
    if (!update_resumed_options(s.ctx, &a, &s.model, ckpt_path)) return finish(&s, 1);
    /* the notes say where this session trains, which may differ from the sessions before */
    if (cli_model_set_note(&s.model, "run.device", mg_device_name(s.device)) ||
        cli_model_set_note(&s.model, "run.tf32", cli_tf32_note(s.device, a.tf32))) {
      fprintf(stderr, "medgen train: %s\n", mg_context_error(s.ctx));
      return finish(&s, 1);
    }
    a.size = cli_model_image_size(&s.model);
  } else {
    struct stat st;
    if (stat(ckpt_path, &st) == 0) {
      fprintf(stderr, "medgen train: %s already exists: continue it with --resume %s, or choose another --out\n",
              ckpt_path, a.out);
      return finish(&s, 1);
    }
  }

  const int kind = find_data(&s, &a, err, sizeof err);
  if (kind == DATA_ERROR) {
    fprintf(stderr, "medgen train: %s\n", err);
    return finish(&s, 1);
  }
  if (kind == DATA_IMAGES && (a.axis_name || a.window_text || a.labels)) {
    fprintf(stderr, "medgen train: --axis, --window and --labels apply to volumes, and %s holds 2D images\n",
            a.data[0]);
    return finish(&s, 2);
  }
  if (kind != DATA_IMAGES && a.max_per_class) {
    fprintf(stderr, "medgen train: --max-per-class applies to folders of 2D images, not to volumes\n");
    return finish(&s, 2);
  }
  if (a.labels && (kind == DATA_VOLUME_FOLDER || a.n_labels != s.n_volumes)) {
    if (kind == DATA_VOLUME_FOLDER)
      fprintf(stderr, "medgen train: --labels pairs a label map with each volume listed in --data, not with the "
                      "volumes of a folder\n");
    else
      fprintf(stderr, "medgen train: --labels gives %d label map%s for %d volume%s: give one per --data volume, in "
                      "the same order\n", a.n_labels, a.n_labels == 1 ? "" : "s", s.n_volumes,
              s.n_volumes == 1 ? "" : "s");
    return finish(&s, 2);
  }
  for (int i = 0; a.labels && i < s.n_volumes; i++) s.volumes[i].label_map = a.labels[i];
  if (kind != DATA_IMAGES && !a.size) a.size = DEFAULT_VOLUME_SIZE;
  if (!a.resume && a.size && !check_model_size(&a, err, sizeof err)) {
    fprintf(stderr, "medgen train: %s\n", err);
    return finish(&s, 1);
  }

  double t0 = cli_now_s();
  mg_dataset data;
  if (kind != DATA_IMAGES) {
    if (!read_volumes(&s, &a, &data, err, sizeof err)) {
      fprintf(stderr, "medgen train: %s\n", err);
      return finish(&s, 1);
    }
  } else {
    /* files the C readers do not know (DICOM, TIFF, BMP, NRRD, ...) go to ITK */
    if (mg_image_folder_read(a.data[0], a.size, a.max_per_class, mg_itk_image_read, &s.folder, err, sizeof err) !=
        MG_OK) {
      fprintf(stderr, "medgen train: %s\n", err);
      return finish(&s, 1);
    }
    /* a GAN takes power-of-two sizes: images of another size, with no --size given, are resized to the next one */
    if (!a.size && !a.resume && a.model_kind == FOR_GAN && !gan_size_ok(s.folder.data.size)) {
      a.size = next_gan_size(s.folder.data.size);
      printf("medgen train: the images are %dx%d; a GAN takes 32, 64, 128 or 256 pixels: resizing them to %dx%d "
             "(--size to choose)\n", s.folder.data.size, s.folder.data.size, a.size, a.size);
      mg_image_folder_free(&s.folder);
      if (mg_image_folder_read(a.data[0], a.size, a.max_per_class, mg_itk_image_read, &s.folder, err,
                               sizeof err) != MG_OK) {
        fprintf(stderr, "medgen train: %s\n", err);
        return finish(&s, 1);
      }
    }
    data = s.folder.data;
  }
  if (a.unconditional || (a.resume && cli_model_num_classes(&s.model) == 0)) {
    data.labels = NULL;
    data.num_classes = 0;
    data.class_names = NULL;
  }
  if (kind == DATA_IMAGES)
    printf("medgen train: %s: %d images at %dx%d", a.data[0], data.count, data.size, data.size);
  else
    printf("medgen train: %d volume%s: %d slices at %dx%d, %g mm per pixel", s.n_volumes, s.n_volumes == 1 ? "" : "s",
           data.count, data.size, data.size, mg_itk_slices_mm_per_pixel(s.slices));
  print_class_counts(&data);
  printf(" (read in %.1f s)\n", cli_now_s() - t0);

  if (!a.resume) {
    char max_pc[32], mm_per_pixel[32];
    snprintf(max_pc, sizeof max_pc, "%d", a.max_per_class);
    bool failed = create_model(s.ctx, &a, &data, ckpt_path, &s.model) != MG_OK ||
                  set_paths_note(&s.model, "run.data", a.data, a.n_data) ||
                  cli_model_set_note(&s.model, "run.max_per_class", max_pc) ||
                  cli_model_set_note(&s.model, "run.unconditional", a.unconditional ? "1" : "0") ||
                  cli_model_set_note(&s.model, "run.device", mg_device_name(s.device)) ||
                  cli_model_set_note(&s.model, "run.tf32", cli_tf32_note(s.device, a.tf32));
    /* how the volumes were read, so that --resume reads them the same way and samples come back in their units */
    if (!failed && kind != DATA_IMAGES) {
      snprintf(mm_per_pixel, sizeof mm_per_pixel, "%.9g", mg_itk_slices_mm_per_pixel(s.slices));
      failed = cli_model_set_note(&s.model, "run.axis", mg_itk_axis_name(a.axis)) ||
               cli_model_set_note(&s.model, "run.window", a.window_text ? a.window_text : "percentiles") ||
               (a.labels && set_paths_note(&s.model, "run.labels", a.labels, a.n_labels)) ||
               cli_model_set_note(&s.model, "run.pixel_type", mg_itk_slices_pixel_type(s.slices)) ||
               cli_model_set_note(&s.model, "run.mm_per_pixel", mm_per_pixel);
    }
    if (failed) {
      fprintf(stderr, "medgen train: %s\n", mg_context_error(s.ctx));
      return finish(&s, 1);
    }
    /* only now: a model that cannot be made leaves no empty run folder behind */
    if (!cli_make_dir(a.out)) {
      fprintf(stderr, "medgen train: cannot create the run folder %s: %s\n", a.out, strerror(errno));
      return finish(&s, 1);
    }
  }
  print_model(&s.model, a.resume ? "resuming" : "training");
  int64_t first = cli_model_step(&s.model), total;
  int batch;
  char where[64];
  cli_device_text(s.ctx, s.device, a.tf32, where, sizeof where);
  if (s.model.gan) {
    mg_gan_train_options o = mg_gan_train_options_of(s.model.gan);
    total = o.steps;
    batch = o.batch;
    printf("medgen train: steps %lld to %lld, batch %d, lr G %g D %g, betas %g %g, %s; checkpoints to %s\n",
           (long long)first + 1, (long long)o.steps, o.batch, o.lr_g, o.lr_d, o.beta1, o.beta2, where, ckpt_path);
  } else {
    mg_ddpm_train_options o = mg_ddpm_train_options_of(s.model.ddpm);
    total = o.steps;
    batch = o.batch;
    printf("medgen train: steps %lld to %lld, batch %d, lr %g, %s; checkpoints to %s\n",
           (long long)first + 1, (long long)o.steps, o.batch, o.learning_rate, where, ckpt_path);
  }
  fflush(stdout);

  int64_t remaining = total - first;
  cli_train_progress progress = {.batch = batch, .first_step = first, .gan = s.model.gan,
                                 .report_every = remaining / 100 > 10 ? remaining / 100 : 10, .log = &s.log};
  cli_text_append(&s.log, "%s", cli_train_log_header(&progress));
  cli_catch_interrupt();
  mg_status st = s.model.gan ? mg_gan_train(s.model.gan, &data, cli_on_train_progress, &progress)
                             : mg_ddpm_train(s.model.ddpm, &data, cli_on_train_progress, &progress);
  cli_release_interrupt();
  /* the log covers this session's steps; a resumed run appends a new file's worth under its own name */
  char log_name[4200];
  snprintf(log_name, sizeof log_name, first ? "%s/train-log-from-%lld.csv" : "%s", first ? a.out : log_path,
           (long long)first);
  if (!s.log.failed && mg_file_write_atomic(log_name, s.log.data, s.log.len, err, sizeof err) != MG_OK)
    fprintf(stderr, "medgen train: %s\n", err);
  if (st == MG_ERR_CANCELLED) {
    fprintf(stderr, "medgen train: interrupted at step %lld; checkpoint saved. Continue with: medgen train --resume "
                    "%s\n", (long long)cli_model_step(&s.model), a.out);
    return finish(&s, 1);
  }
  if (st != MG_OK) {
    fprintf(stderr, "medgen train: %s\n", mg_context_error(s.ctx));
    return finish(&s, 1);
  }
  char took[32];
  cli_format_duration(cli_now_s() - t0, took, sizeof took);
  printf("medgen train: done in %s: %s (sample with: medgen sample --checkpoint %s --out samples.nii.gz --grid "
         "samples.png)\n", took, ckpt_path, ckpt_path);
  return finish(&s, 0);
}
