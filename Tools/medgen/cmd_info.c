/* cmd_info.c: `medgen info CHECKPOINT`: what a checkpoint holds (metadata, tensor counts, values per name prefix,
 * the tensors and their shapes), or one line on stderr saying why the file is rejected (exit 1). Uses only the
 * public API (medgen.h): the loader has already validated everything we print. Without a checkpoint: this build's
 * version and the devices --device can name on this machine, with why one cannot be used. */
#include "cli_util.h"
#include "medgen.h"
#include "medgen_commands.h"

#include <cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  LIST_LIMIT = 20,    /* tensors listed without --all */
  META_LIMIT = 40,    /* metadata entries listed without --all */
  VALUE_LIMIT = 160,  /* characters of a metadata value shown without --all */
  PREFIX_LIMIT = 12,  /* prefixes shown without --all; one line sums the rest */
};

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen info [--all] CHECKPOINT\n"
          "       medgen info\n"
          "\n"
          "Shows what a MedGen checkpoint (.safetensors) holds: its metadata, how many tensors and values it has\n"
          "(grouped by name prefix such as model., ema., optim.), and its tensors with their shapes. The whole file\n"
          "is validated first; a damaged or foreign file is reported in one line and the exit code is 1.\n"
          "Without a checkpoint: MedGen's version and the devices the commands' --device can use here (cpu, cuda,\n"
          "and what auto picks), with the reason when one cannot be used.\n"
          "\n"
          "Options:\n"
          "  --all        list every tensor and show metadata values in full\n"
          "  -h, --help   show this help\n");
}

/* 1234567 -> "1,234,567" */
static const char *grouped(int64_t v, char *buf, size_t size) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%lld", (long long)v);
  size_t o = 0;
  for (int i = 0; i < n && o + 2 < size; i++) {
    if (i > 0 && digits[i - 1] != '-' && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}
#define GROUPED(v) grouped((v), (char[40]){0}, 40)

static const char *human_bytes(double bytes, char *buf, size_t size) {
  const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
  if (u == 0) snprintf(buf, size, "%.0f bytes", bytes);
  else snprintf(buf, size, "%.1f %s", bytes, units[u]);
  return buf;
}
#define HUMAN(b) human_bytes((b), (char[32]){0}, 32)

/* Prints s with control characters escaped (a checkpoint's strings come from whoever wrote it), at most limit
 * bytes (0: all), cut at a character boundary. */
static void print_escaped(const char *s, size_t limit) {
  size_t n = strlen(s), shown = limit && n > limit ? limit : n;
  while (shown < n && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80) shown--;
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') fputs("\\n", stdout);
    else if (c == '\t') fputs("\\t", stdout);
    else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
    else putchar(c);
  }
  if (shown < n) printf("... (%zu bytes; --all shows everything)", n);
}

static void shape_text(const mg_checkpoint_tensor *t, char *buf, size_t size) {
  size_t o = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < t->ndim && o < size; d++)
    o += (size_t)snprintf(buf + o, size - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
  if (o < size) snprintf(buf + o, size - o, "]");
}

/* "model.conv.weight" -> "model."; names without a dot form the group "(no prefix)". Control characters become
 * '?' since the prefix is printed as it is. */
static void prefix_of(const char *name, char *buf, size_t size) {
  const char *dot = strchr(name, '.');
  if (!dot) snprintf(buf, size, "(no prefix)");
  else snprintf(buf, size, "%.*s", (int)(dot - name + 1), name);
  for (char *p = buf; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7F) *p = '?';
}

typedef struct group {
  char prefix[64];
  int tensors;
  int64_t values;
  int first; /* index of its first tensor: groups are shown in the order the file introduces them */
} group;

static int by_prefix_then_first(const void *a, const void *b) {
  const group *x = a, *y = b;
  int c = strcmp(x->prefix, y->prefix);
  return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int by_first(const void *a, const void *b) {
  const group *x = a, *y = b;
  return (x->first > y->first) - (x->first < y->first);
}

/* Merges groups[0..n) (one per tensor) into one per prefix, in order of first appearance; returns how many
 * remain. Sorting instead of searching keeps a hostile file with many prefixes at O(n log n). */
static int merge_groups(group *groups, int n) {
  if (n == 0) return 0;
  qsort(groups, (size_t)n, sizeof *groups, by_prefix_then_first);
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (kept > 0 && strcmp(groups[kept - 1].prefix, groups[i].prefix) == 0) {
      groups[kept - 1].tensors += groups[i].tensors; /* the run's first entry has the smallest index */
      groups[kept - 1].values += groups[i].values;
    } else {
      groups[kept++] = groups[i];
    }
  }
  qsort(groups, (size_t)kept, sizeof *groups, by_first);
  return kept;
}

static void print_group(const group *g, size_t width) {
  printf("  %-*s %6d %s  %s values\n", (int)width, g->prefix, g->tensors, g->tensors == 1 ? "tensor " : "tensors",
         GROUPED(g->values));
}

/* The run's notes (where its data came from and how it was read: paths, axis, window, label maps, pixel type,
 * pixel size), on one line when there are any. */
static void print_notes(const mg_checkpoint *c) {
  int notes = 0;
  for (int i = 0; i < mg_checkpoint_metadata_count(c); i++) {
    const char *key, *value;
    mg_checkpoint_metadata_at(c, i, &key, &value);
    if (strncmp(key, "run.", 4)) continue;
    printf("%s", notes++ ? ", " : "notes: ");
    print_escaped(key + 4, VALUE_LIMIT);
    printf(" = ");
    print_escaped(value, VALUE_LIMIT);
  }
  if (notes) printf("\n");
}

/* The context the summaries load a model into to describe it: the CPU, one thread, whatever --device the run used
 * (describing needs no GPU). Non-zero (reported) when it cannot be made. */
static int info_context(mg_ctx **ctx) { return cli_context_create("medgen info", "cpu", 1, false, ctx, NULL); }

/* Which devices --device can name here, and what auto picks: the engine's own resolution and reasons. */
static int print_system(void) {
  printf("medgen %s\n", MEDGEN_VERSION_STRING);
  mg_ctx *ctx;
  if (cli_context_create("medgen info", "cpu", 0, false, &ctx, NULL)) return 1;
  printf("devices (--device):\n  cpu   usable, %d threads\n", mg_context_threads(ctx));
  mg_context_free(ctx);
  mg_device resolved;
  char note[1024];
  if (mg_device_resolve(MG_DEVICE_CUDA, &resolved, note, sizeof note) == MG_OK) {
    printf("  cuda  usable\n");
  } else {
    static const char prefix[] = "device cuda cannot be used: "; /* the line says which device already */
    printf("  cuda  not usable: %s\n", strncmp(note, prefix, strlen(prefix)) ? note : note + strlen(prefix));
  }
  mg_device_resolve(MG_DEVICE_AUTO, &resolved, note, sizeof note); /* never fails */
  printf("  auto  %s (the default)%s%s\n", mg_device_name(resolved), note[0] ? ": " : "", note);
  return 0;
}

/* What a diffusion-model checkpoint is, in a few lines, from the model the engine builds from it (so a checkpoint
 * the engine cannot use is reported here, exit 1). */
static bool print_ddpm_summary(const mg_checkpoint *c) {
  mg_ctx *ctx = NULL;
  mg_ddpm *m = NULL;
  if (info_context(&ctx)) return false;
  if (mg_ddpm_load(ctx, c, MG_WEIGHTS_EMA, &m) != MG_OK) {
    fprintf(stderr, "medgen info: a diffusion-model checkpoint the engine cannot use: %s\n", mg_context_error(ctx));
    mg_context_free(ctx);
    return false;
  }
  const mg_ddpm_config *cfg = mg_ddpm_get_config(m);
  const mg_ddpm_train_options t = mg_ddpm_train_options_of(m);
  double offset, scale;
  mg_ddpm_normalization(m, &offset, &scale);
  printf("model: diffusion model (DDPM), UNet of %s parameters for %dx%d images with %d channel%s; %s schedule, T=%d, "
         "%s prediction\n", GROUPED(mg_ddpm_parameter_count(m)), cfg->unet.image_size, cfg->unet.image_size,
         cfg->unet.in_channels, cfg->unet.in_channels == 1 ? "" : "s", mg_noise_schedule_name(cfg->schedule),
         cfg->timesteps, mg_prediction_name(cfg->prediction));
  printf("training: %lld of %lld steps, batch %d, learning rate %g\n", (long long)mg_ddpm_step(m),
         (long long)t.steps, t.batch, t.learning_rate);
  printf("data: intensities %g to %g; ", offset - scale, offset + scale);
  if (mg_ddpm_num_classes(m) == 0) printf("unconditional\n");
  for (int i = 0; i < mg_ddpm_num_classes(m); i++)
    printf("%s%s%s", i ? ", " : "classes: ", mg_ddpm_class_name(m, i) ? mg_ddpm_class_name(m, i) : "(unnamed)",
           i + 1 == mg_ddpm_num_classes(m) ? "\n" : "");
  mg_ddpm_free(m);
  mg_context_free(ctx);
  return true;
}

/* What a GAN checkpoint is, loaded for training so that both networks and the augmentation state are counted;
 * false (reported) when the engine cannot use it. */
static bool print_gan_summary(const mg_checkpoint *c) {
  mg_ctx *ctx = NULL;
  mg_gan *m = NULL;
  if (info_context(&ctx)) return false;
  if (mg_gan_load(ctx, c, MG_WEIGHTS_TRAINING, &m) != MG_OK) {
    fprintf(stderr, "medgen info: a GAN checkpoint the engine cannot use: %s\n", mg_context_error(ctx));
    mg_context_free(ctx);
    return false;
  }
  const mg_gan_config *cfg = mg_gan_get_config(m);
  const mg_gan_train_options t = mg_gan_train_options_of(m);
  const mg_gan_training_state ts = mg_gan_training_state_of(m);
  double offset, scale;
  mg_gan_normalization(m, &offset, &scale);
  printf("model: GAN for %dx%d images with %d channel%s, latent %d, width %d; generator %s parameters, "
         "discriminator %s\n", cfg->image_size, cfg->image_size, cfg->channels, cfg->channels == 1 ? "" : "s",
         cfg->latent_dim, cfg->width, GROUPED(mg_gan_generator_parameter_count(m)),
         GROUPED(mg_gan_discriminator_parameter_count(m)));
  printf("training: %lld of %lld steps, batch %d, %s loss, learning rates G %g D %g, betas %g %g, EMA %g\n",
         (long long)mg_gan_step(m), (long long)t.steps, t.batch, mg_gan_loss_name(t.loss), t.lr_g, t.lr_d, t.beta1,
         t.beta2, t.ema_decay);
  printf("augmentation: p %.4f", ts.augment_p);
  if (t.ada) printf(" (adaptive: target r_t %g over %g kimg; r_t now %.3f)", t.ada_target, t.ada_kimg, ts.real_sign);
  printf("%s\n", t.flip_horizontal ? "; left-right flips" : "");
  printf("data: intensities %g to %g; ", offset - scale, offset + scale);
  if (mg_gan_num_classes(m) == 0) printf("unconditional\n");
  for (int i = 0; i < mg_gan_num_classes(m); i++)
    printf("%s%s%s", i ? ", " : "classes: ", mg_gan_class_name(m, i) ? mg_gan_class_name(m, i) : "(unnamed)",
           i + 1 == mg_gan_num_classes(m) ? "\n" : "");
  mg_gan_free(m);
  mg_context_free(ctx);
  return true;
}

/* A number field of a JSON object, or NAN. */
static double json_number(const cJSON *o, const char *field) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, field);
  return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

/* What a classifier checkpoint is (MedGen's feature extractor is one); false (reported) when the engine cannot use
 * it. Width and training settings come from the metadata the loader has accepted. */
static bool print_classifier_summary(const mg_checkpoint *c) {
  mg_ctx *ctx = NULL;
  mg_classifier *m = NULL;
  if (info_context(&ctx)) return false;
  if (mg_classifier_load(ctx, c, &m) != MG_OK) {
    fprintf(stderr, "medgen info: a classifier checkpoint the engine cannot use: %s\n", mg_context_error(ctx));
    mg_context_free(ctx);
    return false;
  }
  cJSON *config = cJSON_Parse(mg_checkpoint_metadata(c, "model.config"));
  cJSON *train = cJSON_Parse(mg_checkpoint_metadata(c, "train.config")); /* NULL when absent */
  cJSON *norm = cJSON_Parse(mg_checkpoint_metadata(c, "data.normalization"));
  const int size = mg_classifier_image_size(m), channels = mg_classifier_channels(m);
  printf("model: image classifier (CNN) for %dx%d images with %d channel%s, width %g, %g blocks; features: %d values "
         "(the global average of the last block, mg_classifier_features)\n", size, size, channels,
         channels == 1 ? "" : "s", json_number(config, "width"), json_number(config, "blocks"),
         mg_classifier_feature_dim(m));
  if (train)
    printf("training: %g steps, batch %g, learning rate %g, seed %g, class-balanced batches, shifts up to %g pixels\n",
           json_number(train, "steps"), json_number(train, "batch"), json_number(train, "learning_rate"),
           json_number(train, "seed"), json_number(train, "max_shift"));
  if (norm)
    printf("data: intensities %g to %g; ", json_number(norm, "offset") - json_number(norm, "scale"),
           json_number(norm, "offset") + json_number(norm, "scale"));
  for (int i = 0; i < mg_classifier_num_classes(m); i++)
    printf("%s%s%s", i ? ", " : "classes: ", mg_classifier_class_name(m, i),
           i + 1 == mg_classifier_num_classes(m) ? "\n" : "");
  cJSON_Delete(config);
  cJSON_Delete(train);
  cJSON_Delete(norm);
  mg_classifier_free(m);
  mg_context_free(ctx);
  return true;
}

int medgen_cmd_info(int argc, char **argv) {
  bool all = false;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      print_help(stdout);
      return 0;
    }
    if (!strcmp(a, "--all")) {
      all = true;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "medgen info: unknown option '%s' (try: medgen info --help)\n", a);
      return 2;
    } else if (path) {
      fprintf(stderr, "medgen info: one checkpoint at a time ('%s' and '%s' given)\n", path, a);
      return 2;
    } else {
      path = a;
    }
  }
  if (!path) {
    if (all) return cli_usage_error("medgen info", "--all lists a checkpoint's contents: which checkpoint?");
    return print_system();
  }

  mg_checkpoint *c = NULL;
  char err[1024];
  if (mg_checkpoint_load(path, &c, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen info: %s\n", err);
    return 1;
  }
  int n = mg_checkpoint_tensor_count(c), n_meta = mg_checkpoint_metadata_count(c);
  printf("%s: safetensors checkpoint\n", path);
  const char *type = mg_checkpoint_model_type(c);
  /* a model checkpoint the engine cannot use is still listed, and the exit code says so */
  bool unusable = type && ((!strcmp(type, "ddpm") && !print_ddpm_summary(c)) ||
                           (!strcmp(type, "gan") && !print_gan_summary(c)) ||
                           (!strcmp(type, "classifier") && !print_classifier_summary(c)));
  print_notes(c);

  printf("metadata: %d %s\n", n_meta, n_meta == 1 ? "entry" : "entries");
  int shown_meta = all || n_meta <= META_LIMIT ? n_meta : META_LIMIT;
  for (int i = 0; i < shown_meta; i++) {
    const char *key, *value;
    mg_checkpoint_metadata_at(c, i, &key, &value);
    printf("  ");
    print_escaped(key, all ? 0 : VALUE_LIMIT);
    printf(": ");
    print_escaped(value, all ? 0 : VALUE_LIMIT);
    printf("\n");
  }
  if (shown_meta < n_meta) printf("  ... and %d more (--all lists every entry)\n", n_meta - shown_meta);

  /* totals, per prefix, and the values that are not finite (a diverged run shows up here) */
  group *groups = calloc((size_t)n + 1, sizeof *groups); /* one per tensor, merged below */
  if (!groups) {
    fprintf(stderr, "medgen info: out of memory\n");
    mg_checkpoint_free(c);
    return 1;
  }
  int64_t total = 0, non_finite = 0;
  int non_finite_tensors = 0;
  size_t width = 0;
  for (int i = 0; i < n; i++) {
    mg_checkpoint_tensor t;
    mg_checkpoint_tensor_at(c, i, &t);
    total += t.numel;
    int64_t bad = 0;
    for (int64_t j = 0; j < t.numel; j++) bad += !isfinite(t.data[j]);
    non_finite += bad;
    non_finite_tensors += bad > 0;
    if (all || i < LIST_LIMIT) width = strlen(t.name) > width ? strlen(t.name) : width;
    prefix_of(t.name, groups[i].prefix, sizeof groups[i].prefix);
    groups[i].tensors = 1;
    groups[i].values = t.numel;
    groups[i].first = i;
  }
  int n_groups = merge_groups(groups, n);
  printf("tensors: %d (%s values, %s as float32)\n", n, GROUPED(total), HUMAN(4.0 * (double)total));
  if (non_finite)
    printf("warning: %s values in %d tensor%s are NaN or infinite\n", GROUPED(non_finite), non_finite_tensors,
           non_finite_tensors == 1 ? "" : "s");
  if (n) printf("by prefix:\n");
  int shown_groups = all || n_groups <= PREFIX_LIMIT ? n_groups : PREFIX_LIMIT - 1;
  group rest = {"", 0, 0, 0};
  for (int g = shown_groups; g < n_groups; g++) rest.tensors += groups[g].tensors, rest.values += groups[g].values;
  snprintf(rest.prefix, sizeof rest.prefix, "(%d more prefixes)", n_groups - shown_groups);
  size_t pw = shown_groups < n_groups ? strlen(rest.prefix) : 0;
  for (int g = 0; g < shown_groups; g++) pw = strlen(groups[g].prefix) > pw ? strlen(groups[g].prefix) : pw;
  for (int g = 0; g < shown_groups; g++) print_group(&groups[g], pw);
  if (shown_groups < n_groups) print_group(&rest, pw);
  free(groups);

  if (width > 60) width = 60;
  int shown = all || n <= LIST_LIMIT ? n : LIST_LIMIT;
  if (n) printf("tensor list:\n");
  for (int i = 0; i < shown; i++) {
    mg_checkpoint_tensor t;
    char shape[200];
    mg_checkpoint_tensor_at(c, i, &t);
    shape_text(&t, shape, sizeof shape);
    printf("  ");
    print_escaped(t.name, 0);
    size_t len = strlen(t.name);
    printf("%*s  %-20s %s\n", (int)(len < width ? width - len : 0), "", shape, GROUPED(t.numel));
  }
  if (shown < n) printf("  ... and %d more (--all lists every tensor)\n", n - shown);
  mg_checkpoint_free(c);
  return unusable ? 1 : 0;
}
