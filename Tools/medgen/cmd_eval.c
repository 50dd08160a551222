/* cmd_eval.c: `medgen eval`: how close a set of synthetic images is to a set of real ones, how varied it is, whether
 * its images show the class they were asked for, and whether it copies its training images.
 *
 * Every set is resampled to the real set's image size and mapped to [-1, 1] with the real set's intensity mapping
 * (eval_sets.h), so that a brighter synthetic set shows as brighter. Feature-space metrics use MedGen's feature
 * extractor (a MedNIST classifier, Logic/Eval/FeatureExtractor); the numbers come from mg_eval.h. Results go to a
 * JSON file (Documentation/medgen-eval.schema.json), a table on stdout and optionally an HTML report
 * (eval_report.h); the files are written atomically, all or none. */
#include "cli_util.h"
#include "eval_report.h"
#include "eval_sets.h"
#include "medgen.h"
#include "medgen_commands.h"
#include "mg_eval.h"
#include "mg_io.h"
#include "mg_itk.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* What the numbers are computed with; recorded in the JSON's settings. */
enum {
  KID_SUBSETS = 50,
  KID_SUBSET_SIZE = 1000,
  PR_K = 3,
  MS_SSIM_PAIRS = 500,
  HISTOGRAM_BINS = 64,
  CLOSEST_PAIRS = 8,
  MIN_IMAGES = 4, /* precision/recall with k = 3, and two real halves of two */
  FEATURE_BATCH = 256,
};
static const double MEMORIZATION_PERCENTILE = 1;
static const double MEMORIZATION_FLAG = 0.05; /* five times the share expected when nothing is copied */
#define FEATURE_EXTRACTOR_FILE "mednist64-v1.safetensors"

typedef struct eval_args {
  const char *real, *synthetic, *train, *out, *html, *features, *classifier;
  const char *device; /* --device: auto (NULL), cpu or cuda */
  bool tf32;
  long max_images, threads;
  uint64_t seed;
} eval_args;

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen eval --real DIR_OR_FILE --synthetic DIR_OR_FILE --out metrics.json [options]\n"
          "\n"
          "Measures a set of synthetic images against real ones: Frechet distance and KID in the feature space of\n"
          "MedGen's feature extractor (beside the same numbers for two halves of the real set), precision and recall,\n"
          "MS-SSIM diversity, the intensity histogram distance, class consistency for labelled sets, and with --train\n"
          "a memorization audit (how close samples come to training images, against held-out real images).\n"
          "A set is a folder of 2D images (class subfolders give labels; so do MedGen's sample-NNNN-<class>.png\n"
          "names) or a stack written by medgen sample (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, with FILE.csv naming\n"
          "each slice's class). Every set is resized to the real images' size and mapped with the real set's\n"
          "intensities.\n"
          "\n"
          "Options:\n"
          "  --real PATH         real images the model never saw (required)\n"
          "  --synthetic PATH    synthetic images (required)\n"
          "  --train PATH        the images the model was trained on: adds the memorization audit\n"
          "  --out FILE.json     every number, the inputs and the settings (required)\n"
          "  --html FILE.html    also a self-contained report; it shows real images: keep it local\n"
          "  --features CKPT     the feature extractor (default: MedGen's " FEATURE_EXTRACTOR_FILE ")\n"
          "  --classifier CKPT   the classifier for class consistency (default: the feature extractor when it knows\n"
          "                      the classes, else one trained on the labelled --train set or half of --real)\n"
          "  --max-images N      at most N images of each set, evenly spaced (default 10000)\n"
          "  --seed S            random halves, pairs and subsets (default 1)\n"
          "  --threads N         CPU threads (default: all cores); results are identical for any count\n"
          "  --device NAME       where the networks run (feature extractor, classifier): auto (default: the CUDA\n"
          "                      GPU when this build has the CUDA backend and the machine a usable GPU, else the\n"
          "                      CPU), cpu, or cuda (fails, saying why, without a usable GPU); the GPU's numbers\n"
          "                      differ by float rounding\n"
          "  --tf32              CUDA: TF32 tensor cores for convolutions and matrix products, faster, with relative\n"
          "                      errors of about 1e-3 (default: off, float32 throughout)\n"
          "  -h, --help          show this help\n");
}


static int parse_args(int argc, char **argv, eval_args *a) {
  *a = (eval_args){.max_images = 10000, .seed = 1};
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i];
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
      print_help(stdout);
      return 1;
    }
    if (!strcmp(name, "--tf32")) {
      a->tf32 = true;
      continue;
    }
    static const char *valued[] = {"--real", "--synthetic", "--train", "--out", "--html", "--features",
                                   "--classifier", "--max-images", "--seed", "--threads", "--device"};
    bool known = false;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(name, valued[k]);
    if (!known) return cli_usage_error("medgen eval", "unknown option '%s'", name);
    if (i + 1 >= argc) return cli_usage_error("medgen eval", "%s needs a value", name);
    const char *v = argv[++i];
    bool ok = true;
    if (!strcmp(name, "--real")) a->real = v;
    else if (!strcmp(name, "--synthetic")) a->synthetic = v;
    else if (!strcmp(name, "--train")) a->train = v;
    else if (!strcmp(name, "--out")) a->out = v;
    else if (!strcmp(name, "--html")) a->html = v;
    else if (!strcmp(name, "--features")) a->features = v;
    else if (!strcmp(name, "--classifier")) a->classifier = v;
    else if (!strcmp(name, "--device")) {
      if (cli_check_device("medgen eval", v)) return 2;
      a->device = v;
    }
    else if (!strcmp(name, "--max-images")) ok = cli_parse_long(v, MIN_IMAGES, 1000000, &a->max_images);
    else if (!strcmp(name, "--seed")) ok = cli_parse_u64(v, &a->seed);
    else ok = cli_parse_long(v, 1, 1024, &a->threads);
    if (!ok) return cli_usage_error("medgen eval", "invalid value '%s' for %s", v, name);
  }
  if (!a->real || !a->synthetic || !a->out) return cli_usage_error("medgen eval", "--real, --synthetic and --out are required");
  return 0;
}


static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The shipped feature extractor: beside the installed tool (<prefix>/share/medgen/), else in the source tree this
 * tool was built from. false (reported) when neither holds it. */
static bool find_feature_extractor(char *path, size_t size) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(path, size, "%s/../share/medgen/" FEATURE_EXTRACTOR_FILE, exe);
    if (is_file(path)) return true;
  }
  snprintf(path, size, "%s", MEDGEN_FEATURE_EXTRACTOR_SOURCE);
  if (is_file(path)) return true;
  fprintf(stderr, "medgen eval: MedGen's feature extractor is not installed (looked in %s/../share/medgen and %s); "
                  "give one with --features CKPT\n",
          n > 0 ? exe : "the tool's folder", MEDGEN_FEATURE_EXTRACTOR_SOURCE);
  return false;
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A random permutation of 0..n-1 (Fisher-Yates over a splitmix64 stream). */
static void shuffle(int *order, int n, uint64_t seed) {
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(splitmix64(&seed) % (uint64_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

/* ---- a loaded classifier over sets: resampling to its size, in batches, progress on stderr ---- */
typedef struct net_pass {
  const char *what; /* "features of the real set" */
  double t_report;
} net_pass;

static void net_pass_report(net_pass *p, int done, int total) {
  double now = cli_now_s();
  if (done == total || now - p->t_report >= 5) {
    fprintf(stderr, "medgen eval: %s: %d/%d images\n", p->what, done, total);
    p->t_report = now;
  }
}

/* Features (labels NULL) or predicted labels (features NULL) of every image of s. */
static mg_status run_classifier(mg_ctx *ctx, mg_classifier *net, const eval_set *s, const char *what,
                                float *features, int32_t *labels, char *err, size_t err_size) {
  const int S = mg_classifier_image_size(net), dim = mg_classifier_feature_dim(net);
  float *batch = malloc((size_t)FEATURE_BATCH * S * S * sizeof *batch);
  if (!batch) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
  net_pass pass = {what, cli_now_s()};
  mg_status st = MG_OK;
  for (int i0 = 0; st == MG_OK && i0 < s->count; i0 += FEATURE_BATCH) {
    int n = s->count - i0 < FEATURE_BATCH ? s->count - i0 : FEATURE_BATCH;
    for (int i = 0; i < n; i++)
      mg_image_resize_area(s->images + (size_t)(i0 + i) * s->size * s->size, s->size, s->size, S,
                           batch + (size_t)i * S * S);
    st = features ? mg_classifier_features(net, batch, n, features + (size_t)i0 * dim)
                  : mg_classifier_predict(net, batch, n, labels + i0, NULL);
    if (st != MG_OK) snprintf(err, err_size, "%s: %s", s->path, mg_context_error(ctx));
    else net_pass_report(&pass, i0 + n, s->count);
  }
  free(batch);
  return st;
}

static mg_status load_classifier(mg_ctx *ctx, const char *path, mg_classifier **out, char *err, size_t err_size) {
  mg_checkpoint *ckpt = NULL;
  mg_status st = mg_checkpoint_load(path, &ckpt, err, err_size);
  if (st == MG_OK && mg_classifier_load(ctx, ckpt, out) != MG_OK) { /* its messages mostly name the file */
    const char *msg = mg_context_error(ctx);
    if (strncmp(msg, path, strlen(path)) == 0) st = (snprintf(err, err_size, "%s", msg), MG_ERR_FORMAT);
    else st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "%s", msg);
  }
  if (st == MG_OK && mg_classifier_channels(*out) != 1)
    st = mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "takes %d-channel images; eval compares gray images",
                       mg_classifier_channels(*out));
  mg_checkpoint_free(ckpt);
  return st;
}

/* ---- JSON helpers ---- */
static cJSON *add_object(cJSON *parent, const char *key) { return cJSON_AddObjectToObject(parent, key); }

static void add_doubles(cJSON *parent, const char *key, const double *values, int n) {
  cJSON *array = cJSON_AddArrayToObject(parent, key);
  for (int i = 0; array && i < n; i++) cJSON_AddItemToArray(array, cJSON_CreateNumber(values[i]));
}

static void add_set(cJSON *inputs, const char *key, const eval_set *s) {
  cJSON *o = add_object(inputs, key);
  cJSON_AddStringToObject(o, "path", s->path);
  cJSON_AddStringToObject(o, "kind", s->is_stack ? "stack" : "folder");
  cJSON_AddNumberToObject(o, "images_found", s->found);
  cJSON_AddNumberToObject(o, "images_used", s->count);
  cJSON_AddNumberToObject(o, "files", s->files);
  cJSON_AddNumberToObject(o, "marked_synthetic", s->marked);
  cJSON *classes = cJSON_AddArrayToObject(o, "classes");
  for (int c = 0; c < s->num_classes; c++) cJSON_AddItemToArray(classes, cJSON_CreateString(s->class_names[c]));
}

static void add_note(cJSON *root, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void add_note(cJSON *root, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(root, "notes"), cJSON_CreateString(text));
  fprintf(stderr, "medgen eval: note: %s\n", text);
}

/* ---- the metrics ---- */
typedef struct eval_run {
  const eval_args *args;
  mg_ctx *ctx;
  eval_set real, synthetic, train;
  bool has_train;
  double offset, scale; /* the real set's intensity mapping */
  mg_classifier *extractor;
  int dim;
  float *f_real, *f_synthetic, *f_train;
  cJSON *root, *metrics;
  int pair_sample[CLOSEST_PAIRS], pair_train[CLOSEST_PAIRS], pairs;
  char err[6144];
} eval_run;

/* Feature-space closeness: Fréchet distance and KID against real, each beside the same for two random halves of
 * the real set (what a perfect generator would score at this sample size), then precision and recall. */
static mg_status closeness(eval_run *r) {
  const int nr = r->real.count, ns = r->synthetic.count, dim = r->dim, half = nr / 2;
  int *order = malloc((size_t)nr * sizeof *order);
  float *halves = malloc((size_t)2 * half * dim * sizeof *halves);
  mg_status st = order && halves ? MG_OK : mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, r->real.path,
                                                         "out of memory");
  if (st == MG_OK) {
    shuffle(order, nr, r->args->seed);
    for (int i = 0; i < 2 * half; i++)
      memcpy(halves + (size_t)i * dim, r->f_real + (size_t)order[i] * dim, (size_t)dim * sizeof *halves);
  }
  double fd = 0, fd_base = 0, kid = 0, kid_std = 0, kid_base = 0, kid_base_std = 0, precision = 0, recall = 0;
  char *e = r->err;
  size_t es = sizeof r->err;
  if (st == MG_OK) st = mg_eval_frechet_distance(r->f_synthetic, ns, r->f_real, nr, dim, &fd, e, es);
  if (st == MG_OK) st = mg_eval_frechet_distance(halves, half, halves + (size_t)half * dim, half, dim, &fd_base, e, es);
  if (st == MG_OK)
    st = mg_eval_kid(r->f_synthetic, ns, r->f_real, nr, dim, KID_SUBSETS, KID_SUBSET_SIZE, r->args->seed, &kid,
                     &kid_std, e, es);
  if (st == MG_OK)
    st = mg_eval_kid(halves, half, halves + (size_t)half * dim, half, dim, KID_SUBSETS, KID_SUBSET_SIZE,
                     r->args->seed, &kid_base, &kid_base_std, e, es);
  if (st == MG_OK) {
    fprintf(stderr, "medgen eval: nearest neighbours for precision and recall\n");
    st = mg_eval_precision_recall(r->f_real, nr, r->f_synthetic, ns, dim, PR_K, &precision, &recall, e, es);
  }
  if (st == MG_OK) {
    cJSON *o = add_object(r->metrics, "frechet_distance");
    cJSON_AddNumberToObject(o, "value", fd);
    cJSON_AddNumberToObject(o, "real_vs_real", fd_base);
    o = add_object(r->metrics, "kid");
    cJSON_AddNumberToObject(o, "mean", kid);
    cJSON_AddNumberToObject(o, "std", kid_std);
    cJSON_AddNumberToObject(o, "real_vs_real_mean", kid_base);
    cJSON_AddNumberToObject(o, "real_vs_real_std", kid_base_std);
    o = add_object(r->metrics, "precision_recall");
    cJSON_AddNumberToObject(o, "k", PR_K);
    cJSON_AddNumberToObject(o, "precision", precision);
    cJSON_AddNumberToObject(o, "recall", recall);
  }
  free(order);
  free(halves);
  return st;
}

/* Mean MS-SSIM over random pairs of distinct images of s (images span [-1, 1]: data range 2). */
static mg_status mean_ms_ssim(const eval_set *s, uint64_t seed, double *mean, char *err, size_t err_size) {
  double sum = 0;
  for (int p = 0; p < MS_SSIM_PAIRS; p++) {
    int i = (int)(splitmix64(&seed) % (uint64_t)s->count);
    int j = (int)(splitmix64(&seed) % (uint64_t)(s->count - 1));
    j += j >= i; /* distinct */
    const size_t per = (size_t)s->size * s->size;
    double v;
    mg_status st = mg_eval_ms_ssim(s->images + i * per, s->images + j * per, s->size, 2.0, &v, err, err_size);
    if (st != MG_OK) return st;
    sum += v;
  }
  *mean = sum / MS_SSIM_PAIRS;
  return MG_OK;
}

static mg_status diversity(eval_run *r) {
  double syn = 0, real = 0;
  mg_status st = mean_ms_ssim(&r->synthetic, r->args->seed, &syn, r->err, sizeof r->err);
  if (st == MG_OK) st = mean_ms_ssim(&r->real, r->args->seed, &real, r->err, sizeof r->err);
  if (st != MG_OK) return st;
  cJSON *o = add_object(r->metrics, "ms_ssim_diversity");
  cJSON_AddNumberToObject(o, "synthetic", syn);
  cJSON_AddNumberToObject(o, "real", real);
  cJSON_AddNumberToObject(o, "pairs", MS_SSIM_PAIRS);
  return MG_OK;
}

/* The two sets' pixel values in the real set's units, histogrammed over the range both cover. */
static mg_status intensities(eval_run *r) {
  const eval_set *sets[2] = {&r->real, &r->synthetic};
  double lo = INFINITY, hi = -INFINITY, mean[2] = {0, 0}, hist[2][HISTOGRAM_BINS];
  float *values[2] = {NULL, NULL};
  int64_t n[2];
  mg_status st = MG_OK;
  for (int k = 0; k < 2 && st == MG_OK; k++) {
    n[k] = (int64_t)sets[k]->count * sets[k]->size * sets[k]->size;
    values[k] = malloc((size_t)n[k] * sizeof *values[k]);
    if (!values[k]) {
      st = mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, sets[k]->path, "out of memory");
      break;
    }
    for (int64_t i = 0; i < n[k]; i++) {
      double v = sets[k]->images[i] * r->scale + r->offset;
      values[k][i] = (float)v;
      mean[k] += v;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    mean[k] /= (double)n[k];
  }
  if (!(hi > lo)) hi = lo + 1;
  for (int k = 0; k < 2 && st == MG_OK; k++)
    st = mg_eval_histogram(values[k], n[k], lo, hi, HISTOGRAM_BINS, hist[k], r->err, sizeof r->err);
  if (st == MG_OK) {
    double d = mg_eval_histogram_distance(hist[0], hist[1], HISTOGRAM_BINS);
    cJSON *o = add_object(r->metrics, "intensity_histogram");
    cJSON_AddNumberToObject(o, "distance", d);
    cJSON_AddNumberToObject(o, "distance_units", d * (hi - lo));
    cJSON_AddNumberToObject(o, "mean_real", mean[0]);
    cJSON_AddNumberToObject(o, "mean_synthetic", mean[1]);
    cJSON_AddNumberToObject(o, "lo", lo);
    cJSON_AddNumberToObject(o, "hi", hi);
    cJSON_AddNumberToObject(o, "bins", HISTOGRAM_BINS);
    add_doubles(o, "real", hist[0], HISTOGRAM_BINS);
    add_doubles(o, "synthetic", hist[1], HISTOGRAM_BINS);
  }
  free(values[0]);
  free(values[1]);
  return st;
}

/* The classifier's index of class name (-1 when it does not know it). */
static int classifier_class(const mg_classifier *c, const char *name) {
  for (int j = 0; j < mg_classifier_num_classes(c); j++)
    if (!strcmp(mg_classifier_class_name(c, j), name)) return j;
  return -1;
}

/* Whether the classifier knows every class of s. */
static bool knows_classes(const mg_classifier *c, const eval_set *s) {
  for (int k = 0; k < s->num_classes; k++)
    if (classifier_class(c, s->class_names[k]) < 0) return false;
  return true;
}

/* Trains the fixed-recipe classifier on the labelled images among s's first n of order. */
static mg_status train_classifier(eval_run *r, const eval_set *s, const int *order, int n, mg_classifier **out,
                                  cJSON *cc) {
  const size_t per = (size_t)s->size * s->size;
  float *images = malloc((size_t)n * per * sizeof *images);
  int32_t *labels = malloc((size_t)n * sizeof *labels);
  int kept = 0;
  mg_status st = images && labels ? MG_OK
                 : mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
  for (int i = 0; st == MG_OK && i < n; i++)
    if (s->labels[order[i]] >= 0) {
      memcpy(images + kept * per, s->images + order[i] * per, per * sizeof *images);
      labels[kept++] = s->labels[order[i]];
    }
  mg_classifier_options o = mg_classifier_default_options();
  o.width = 8;
  o.steps = 200;
  o.batch = 32;
  o.seed = r->args->seed;
  mg_dataset d = {kept, 1, s->size, images, labels, s->num_classes, (const char *const *)s->class_names, r->offset,
                  r->scale};
  if (st == MG_OK) {
    fprintf(stderr, "medgen eval: training a classifier for class consistency on %d images of %s (%d steps)\n", kept,
            s->path, o.steps);
    if (mg_classifier_train(r->ctx, &d, &o, NULL, NULL, out) != MG_OK) /* e.g. one class: no consistency */
      add_note(r->root, "class consistency: no classifier could be trained on %s: %s", s->path,
               mg_context_error(r->ctx));
  }
  if (st == MG_OK && *out) {
    char recipe[200];
    snprintf(recipe, sizeof recipe, "width %d, %d steps of %d images, learning rate %g, seed %llu, on %d images",
             o.width, o.steps, o.batch, o.learning_rate, (unsigned long long)o.seed, kept);
    cJSON_AddStringToObject(cc, "recipe", recipe);
  }
  free(images);
  free(labels);
  return st;
}

/* The share of the images listed (order's first n; all when order is NULL) whose prediction is their class name,
 * counting only images of class `only` (NULL: any class the classifier knows); NaN for none. */
static double agreement(const mg_classifier *c, const eval_set *s, const int32_t *predicted, const int *order, int n,
                        const char *only, int *count) {
  int right = 0;
  *count = 0;
  for (int i = 0; i < n; i++) {
    int k = order ? order[i] : i;
    if (s->labels[k] < 0 || (only && strcmp(s->class_names[s->labels[k]], only))) continue;
    int j = classifier_class(c, s->class_names[s->labels[k]]);
    if (j < 0) continue;
    (*count)++;
    right += predicted[k] == j;
  }
  return *count ? (double)right / *count : NAN;
}

static void add_share(cJSON *o, const char *key, double v) {
  if (isnan(v)) cJSON_AddNullToObject(o, key);
  else cJSON_AddNumberToObject(o, key, v);
}

/* How often a classifier names the class each synthetic image was asked for, beside its accuracy on labelled real
 * images it was not trained on. The classifier: --classifier, else the feature extractor when it knows the
 * synthetic set's classes, else one trained on the labelled --train set, else on half of the labelled real set
 * (its accuracy then measured on the other half). */
static mg_status class_consistency(eval_run *r) {
  if (!r->synthetic.labels) {
    add_note(r->root, "class consistency: the synthetic set has no classes (unconditional)");
    cJSON_AddNullToObject(r->metrics, "class_consistency");
    return MG_OK;
  }
  const bool train_labelled = r->has_train && r->train.labels;
  if (!r->args->classifier && !knows_classes(r->extractor, &r->synthetic) && !train_labelled && !r->real.labels) {
    add_note(r->root, "class consistency: no classifier knows the synthetic classes, and neither --train nor --real "
                      "has classes to train one on (give --classifier CKPT)");
    cJSON_AddNullToObject(r->metrics, "class_consistency");
    return MG_OK;
  }
  cJSON *cc = add_object(r->metrics, "class_consistency");
  mg_classifier *own = NULL, *c = NULL;
  const int nr = r->real.count, ns = r->synthetic.count;
  int *order = malloc((size_t)nr * sizeof *order), held = nr;
  int32_t *pred_syn = malloc((size_t)ns * sizeof *pred_syn), *pred_real = malloc((size_t)nr * sizeof *pred_real);
  mg_status st = order && pred_syn && pred_real
                 ? MG_OK : mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, r->real.path, "out of memory");
  if (st != MG_OK) goto done;
  for (int i = 0; i < nr; i++) order[i] = i;
  if (r->args->classifier) {
    st = load_classifier(r->ctx, r->args->classifier, &own, r->err, sizeof r->err);
    cJSON_AddStringToObject(cc, "classifier", r->args->classifier);
  } else if (knows_classes(r->extractor, &r->synthetic)) {
    c = r->extractor;
    cJSON_AddStringToObject(cc, "classifier", "feature extractor");
  } else if (train_labelled) {
    int *all = malloc((size_t)r->train.count * sizeof *all);
    for (int i = 0; all && i < r->train.count; i++) all[i] = i;
    st = all ? train_classifier(r, &r->train, all, r->train.count, &own, cc)
             : mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, r->train.path, "out of memory");
    free(all);
    cJSON_AddStringToObject(cc, "classifier", "trained on --train");
  } else {
    shuffle(order, nr, r->args->seed + 2);
    held = nr - nr / 2;
    st = train_classifier(r, &r->real, order + held, nr / 2, &own, cc);
    cJSON_AddStringToObject(cc, "classifier", "trained on half of --real");
  }
  if (own) c = own;
  if (st == MG_OK && !c) { /* none could be trained: noted */
    cJSON_ReplaceItemInObjectCaseSensitive(r->metrics, "class_consistency", cJSON_CreateNull());
    goto done;
  }
  if (st == MG_OK) st = run_classifier(r->ctx, c, &r->synthetic, "classes of the synthetic set", NULL, pred_syn,
                                       r->err, sizeof r->err);
  if (st == MG_OK && r->real.labels)
    st = run_classifier(r->ctx, c, &r->real, "classes of the real set", NULL, pred_real, r->err, sizeof r->err);
  if (st != MG_OK) goto done;
  int count;
  add_share(cc, "agreement", agreement(c, &r->synthetic, pred_syn, NULL, ns, NULL, &count));
  cJSON_AddNumberToObject(cc, "synthetic_images", count);
  add_share(cc, "real_accuracy", r->real.labels ? agreement(c, &r->real, pred_real, order, held, NULL, &count) : NAN);
  cJSON_AddNumberToObject(cc, "real_images", r->real.labels ? count : 0);
  cJSON *per_class = cJSON_AddArrayToObject(cc, "per_class");
  for (int k = 0; k < r->synthetic.num_classes; k++) {
    const char *name = r->synthetic.class_names[k];
    cJSON *row = cJSON_CreateObject();
    cJSON_AddItemToArray(per_class, row);
    cJSON_AddStringToObject(row, "class", name);
    cJSON_AddBoolToObject(row, "known_to_classifier", classifier_class(c, name) >= 0);
    add_share(row, "agreement", agreement(c, &r->synthetic, pred_syn, NULL, ns, name, &count));
    cJSON_AddNumberToObject(row, "synthetic_images", count);
    add_share(row, "real_accuracy", r->real.labels ? agreement(c, &r->real, pred_real, order, held, name, &count)
                                                   : NAN);
    cJSON_AddNumberToObject(row, "real_images", r->real.labels ? count : 0);
    if (classifier_class(c, name) < 0)
      add_note(r->root, "class consistency: the classifier does not know the synthetic class '%s'", name);
  }
done:
  mg_classifier_free(own);
  free(order);
  free(pred_syn);
  free(pred_real);
  return st;
}

static void add_audit(cJSON *o, const mg_eval_memorization *m) {
  cJSON_AddNumberToObject(o, "threshold", m->threshold);
  cJSON_AddNumberToObject(o, "fraction_closer", m->fraction_closer);
  cJSON_AddNumberToObject(o, "median_sample", m->median_sample);
  cJSON_AddNumberToObject(o, "median_heldout", m->median_heldout);
}

static double feature_distance(const float *a, const float *b, int dim) {
  double sum = 0;
  for (int k = 0; k < dim; k++) sum += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
  return sqrt(sum);
}

/* Each synthetic image's distance to its nearest training image, against the same for the held-out real images,
 * in pixel space and feature space; flagged when clearly more samples than chance sit closer than almost every
 * held-out image. */
static mg_status memorization(eval_run *r) {
  if (!r->has_train) {
    cJSON_AddNullToObject(r->metrics, "memorization");
    return MG_OK;
  }
  const int ns = r->synthetic.count, nr = r->real.count, nt = r->train.count, pixels = r->real.size * r->real.size;
  int *nn_syn = malloc((size_t)ns * sizeof *nn_syn);
  double *d_syn = malloc((size_t)ns * sizeof *d_syn), *d_real = malloc((size_t)nr * sizeof *d_real);
  double *f_syn = malloc((size_t)ns * sizeof *f_syn), *f_real = malloc((size_t)nr * sizeof *f_real);
  char *e = r->err;
  size_t es = sizeof r->err;
  mg_eval_memorization pixel = {0}, feature = {0};
  mg_status st = nn_syn && d_syn && d_real && f_syn && f_real
                 ? MG_OK : mg_file_error(e, es, MG_ERR_OUT_OF_MEMORY, r->train.path, "out of memory");
  if (st == MG_OK) {
    fprintf(stderr, "medgen eval: nearest training images of %d synthetic and %d real images among %d\n", ns, nr, nt);
    st = mg_eval_nearest(r->synthetic.images, ns, r->train.images, nt, pixels, nn_syn, d_syn, e, es);
  }
  if (st == MG_OK) st = mg_eval_nearest(r->real.images, nr, r->train.images, nt, pixels, NULL, d_real, e, es);
  if (st == MG_OK) st = mg_eval_nearest(r->f_synthetic, ns, r->f_train, nt, r->dim, NULL, f_syn, e, es);
  if (st == MG_OK) st = mg_eval_nearest(r->f_real, nr, r->f_train, nt, r->dim, NULL, f_real, e, es);
  /* A real image that is also a training image (distance 0) is not held out: it leaves the reference distribution,
   * which would otherwise put the threshold at 0 and hide any copying. */
  int heldout = 0;
  for (int j = 0; st == MG_OK && j < nr; j++)
    if (d_real[j] > 0) {
      d_real[heldout] = d_real[j];
      f_real[heldout++] = f_real[j];
    }
  const int overlap = nr - heldout;
  if (st == MG_OK && heldout < 2)
    st = mg_file_error(e, es, MG_ERR_INVALID_ARGUMENT, r->real.path,
                       "%d of its %d images are also in the training set %s: the memorization audit needs held-out "
                       "real images (drop --train, or give real images the model never saw)", overlap, nr,
                       r->train.path);
  if (st == MG_OK)
    st = mg_eval_memorization_audit(d_syn, ns, d_real, heldout, MEMORIZATION_PERCENTILE, &pixel, e, es);
  if (st == MG_OK)
    st = mg_eval_memorization_audit(f_syn, ns, f_real, heldout, MEMORIZATION_PERCENTILE, &feature, e, es);
  if (st == MG_OK) {
    cJSON *o = add_object(r->metrics, "memorization");
    add_audit(add_object(o, "pixel"), &pixel);
    add_audit(add_object(o, "feature"), &feature);
    const bool flagged = pixel.fraction_closer > MEMORIZATION_FLAG || feature.fraction_closer > MEMORIZATION_FLAG;
    cJSON_AddBoolToObject(o, "flagged", flagged);
    cJSON_AddNumberToObject(o, "real_in_train", overlap);
    if (overlap)
      add_note(r->root, "%d of the %d real images are also in the training set (distance 0): the memorization audit "
                        "compares the samples with the other %d only", overlap, nr, heldout);
    /* the closest pairs: selection of the smallest pixel distances, ties to the lower index */
    cJSON *pairs = cJSON_AddArrayToObject(o, "closest_pairs");
    bool *taken = calloc((size_t)ns, sizeof *taken);
    for (r->pairs = 0; taken && r->pairs < CLOSEST_PAIRS && r->pairs < ns; r->pairs++) {
      int best = -1;
      for (int i = 0; i < ns; i++)
        if (!taken[i] && (best < 0 || d_syn[i] < d_syn[best])) best = i;
      taken[best] = true;
      r->pair_sample[r->pairs] = best;
      r->pair_train[r->pairs] = nn_syn[best];
      cJSON *p = cJSON_CreateObject();
      cJSON_AddItemToArray(pairs, p);
      cJSON_AddStringToObject(p, "sample", r->synthetic.names[best]);
      cJSON_AddStringToObject(p, "training_image", r->train.names[nn_syn[best]]);
      cJSON_AddNumberToObject(p, "pixel_distance", d_syn[best]);
      cJSON_AddNumberToObject(p, "feature_distance", feature_distance(r->f_synthetic + (size_t)best * r->dim,
                                                                      r->f_train + (size_t)nn_syn[best] * r->dim,
                                                                      r->dim));
    }
    if (!taken) st = mg_file_error(e, es, MG_ERR_OUT_OF_MEMORY, r->train.path, "out of memory");
    free(taken);
  }
  free(nn_syn);
  free(d_syn);
  free(d_real);
  free(f_syn);
  free(f_real);
  return st;
}

/* ---- reading, features, outputs ---- */
static mg_status read_sets(eval_run *r) {
  const eval_args *a = r->args;
  const int max = (int)a->max_images;
  mg_status st = eval_set_read(a->real, 0, max, &r->real, r->err, sizeof r->err);
  if (st == MG_OK) st = eval_set_read(a->synthetic, r->real.size, max, &r->synthetic, r->err, sizeof r->err);
  if (st == MG_OK && a->train) {
    st = eval_set_read(a->train, r->real.size, max, &r->train, r->err, sizeof r->err);
    r->has_train = st == MG_OK;
  }
  const eval_set *sets[3] = {&r->real, &r->synthetic, &r->train};
  for (int k = 0; k < (r->has_train ? 3 : 2) && st == MG_OK; k++)
    if (sets[k]->count < MIN_IMAGES)
      st = mg_file_error(r->err, sizeof r->err, MG_ERR_INVALID_ARGUMENT, sets[k]->path,
                         "%d images: eval needs at least %d in each set", sets[k]->count, MIN_IMAGES);
  if (st == MG_OK && r->real.size < 7)
    st = mg_file_error(r->err, sizeof r->err, MG_ERR_UNSUPPORTED, r->real.path,
                       "images of %dx%d: eval needs at least 7x7", r->real.size, r->real.size);
  if (st != MG_OK) return st;
  eval_set_normalization(&r->real, &r->offset, &r->scale);
  for (int k = 0; k < (r->has_train ? 3 : 2); k++) eval_set_map((eval_set *)sets[k], r->offset, r->scale);
  return MG_OK;
}

static mg_status extract_features(eval_run *r, const char *extractor_path) {
  mg_status st = load_classifier(r->ctx, extractor_path, &r->extractor, r->err, sizeof r->err);
  if (st != MG_OK) return st;
  r->dim = mg_classifier_feature_dim(r->extractor);
  r->f_real = malloc((size_t)r->real.count * r->dim * sizeof(float));
  r->f_synthetic = malloc((size_t)r->synthetic.count * r->dim * sizeof(float));
  if (r->has_train) r->f_train = malloc((size_t)r->train.count * r->dim * sizeof(float));
  if (!r->f_real || !r->f_synthetic || (r->has_train && !r->f_train))
    return mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, extractor_path, "out of memory for features");
  st = run_classifier(r->ctx, r->extractor, &r->real, "features of the real set", r->f_real, NULL, r->err,
                      sizeof r->err);
  if (st == MG_OK)
    st = run_classifier(r->ctx, r->extractor, &r->synthetic, "features of the synthetic set", r->f_synthetic, NULL,
                        r->err, sizeof r->err);
  if (st == MG_OK && r->has_train)
    st = run_classifier(r->ctx, r->extractor, &r->train, "features of the training set", r->f_train, NULL, r->err,
                        sizeof r->err);
  return st;
}

/* The run's description: inputs, settings, feature extractor, synthetic markers. */
static mg_status describe_run(eval_run *r, const char *extractor_path) {
  const eval_args *a = r->args;
  char checksum[32];
  mg_status st = mg_itk_fingerprint(extractor_path, checksum, sizeof checksum, r->err, sizeof r->err);
  if (st != MG_OK) return st;
  cJSON *root = r->root;
  cJSON_AddStringToObject(root, "medgen_version", MEDGEN_VERSION_STRING);
  cJSON *inputs = add_object(root, "inputs");
  add_set(inputs, "real", &r->real);
  add_set(inputs, "synthetic", &r->synthetic);
  if (r->has_train) add_set(inputs, "train", &r->train);
  else cJSON_AddNullToObject(inputs, "train");
  cJSON *fx = add_object(root, "feature_extractor");
  const char *name = mg_classifier_note(r->extractor, "run.feature_extractor");
  const char *base = strrchr(extractor_path, '/');
  cJSON_AddStringToObject(fx, "name", name ? name : base ? base + 1 : extractor_path);
  cJSON_AddStringToObject(fx, "path", extractor_path);
  cJSON_AddStringToObject(fx, "checksum", checksum);
  cJSON_AddNumberToObject(fx, "image_size", mg_classifier_image_size(r->extractor));
  cJSON_AddNumberToObject(fx, "feature_dim", r->dim);
  cJSON *marker = add_object(root, "synthetic_marker");
  cJSON_AddNumberToObject(marker, "files", r->synthetic.files);
  cJSON_AddNumberToObject(marker, "marked", r->synthetic.marked);
  cJSON *s = add_object(root, "settings");
  cJSON_AddNumberToObject(s, "max_images", (double)a->max_images);
  cJSON_AddNumberToObject(s, "seed", (double)a->seed);
  cJSON_AddNumberToObject(s, "threads", mg_context_threads(r->ctx));
  cJSON_AddNumberToObject(s, "image_size", r->real.size);
  cJSON *map = add_object(s, "intensity_mapping");
  cJSON_AddStringToObject(map, "from", r->real.eight_bit ? "8-bit: 0 to 255" : "the real set's smallest to largest");
  cJSON_AddNumberToObject(map, "offset", r->offset);
  cJSON_AddNumberToObject(map, "scale", r->scale);
  cJSON_AddNumberToObject(s, "kid_subsets", KID_SUBSETS);
  cJSON_AddNumberToObject(s, "kid_subset_size", KID_SUBSET_SIZE);
  cJSON_AddNumberToObject(s, "precision_recall_k", PR_K);
  cJSON_AddNumberToObject(s, "ms_ssim_pairs", MS_SSIM_PAIRS);
  cJSON_AddNumberToObject(s, "histogram_bins", HISTOGRAM_BINS);
  cJSON_AddNumberToObject(s, "memorization_percentile", MEMORIZATION_PERCENTILE);
  cJSON_AddNumberToObject(s, "memorization_flag_fraction", MEMORIZATION_FLAG);
  if (r->synthetic.marked < r->synthetic.files)
    add_note(root, "%d of the %d synthetic files carry no MedGen synthetic marker", r->synthetic.files -
             r->synthetic.marked, r->synthetic.files);
  return MG_OK;
}

static double number_at(const cJSON *o, const char *a, const char *b) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
  return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

/* The table on stdout, read back from the JSON so that both say the same. */
static void print_table(const cJSON *root) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metrics");
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "inputs");
  printf("medgen eval: %g synthetic images (of %g) against %g real (of %g), %gx%g, features: %s (%s)\n",
         number_at(in, "synthetic", "images_used"), number_at(in, "synthetic", "images_found"),
         number_at(in, "real", "images_used"), number_at(in, "real", "images_found"),
         number_at(root, "settings", "image_size"), number_at(root, "settings", "image_size"),
         cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "feature_extractor"), "name")
             ->valuestring,
         cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "feature_extractor"), "checksum")
             ->valuestring);
  printf("  %-30s %14s %14s   %s\n", "metric", "synthetic", "real vs real", "how to read");
  printf("  %-30s %14.4g %14.4g   %s\n", "Frechet distance (features)", number_at(m, "frechet_distance", "value"),
         number_at(m, "frechet_distance", "real_vs_real"), "lower is closer; real vs real is the floor");
  printf("  %-30s %14.4g %14.4g   %s\n", "KID (features)", number_at(m, "kid", "mean"),
         number_at(m, "kid", "real_vs_real_mean"), "lower is closer; about 0 for the same distribution");
  printf("  %-30s %14.4g %14s   %s\n", "precision (k=3)", number_at(m, "precision_recall", "precision"), "-",
         "share of synthetic images inside the real manifold (realism)");
  printf("  %-30s %14.4g %14s   %s\n", "recall (k=3)", number_at(m, "precision_recall", "recall"), "-",
         "share of real images inside the synthetic manifold (coverage)");
  printf("  %-30s %14.4g %14.4g   %s\n", "MS-SSIM diversity", number_at(m, "ms_ssim_diversity", "synthetic"),
         number_at(m, "ms_ssim_diversity", "real"), "mean over random pairs; higher = less diverse");
  printf("  %-30s %14.4g %14s   %s\n", "intensity histogram distance",
         number_at(m, "intensity_histogram", "distance"), "-", "share of the range (0 = same intensities)");
  const cJSON *cc = cJSON_GetObjectItemCaseSensitive(m, "class_consistency");
  if (cJSON_IsObject(cc))
    printf("  %-30s %14.4g %14.4g   %s\n", "class consistency", number_at(m, "class_consistency", "agreement"),
           number_at(m, "class_consistency", "real_accuracy"),
           "classifier agrees with the requested class; beside: its accuracy on real");
  const cJSON *mem = cJSON_GetObjectItemCaseSensitive(m, "memorization");
  if (cJSON_IsObject(mem)) {
    printf("  %-30s %14.4g %14s   %s\n", "memorization (pixels)", number_at(mem, "pixel", "fraction_closer"), "-",
           "share of samples closer to a training image than 99% of held-out real");
    printf("  %-30s %14.4g %14s   %s\n", "memorization (features)", number_at(mem, "feature", "fraction_closer"),
           "-", "the same in feature space; about 0.01 when nothing is copied");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mem, "flagged")))
      printf("  WARNING: samples copy training images (memorization fraction above %g)\n", MEMORIZATION_FLAG);
  }
}

/* The JSON and the HTML report: both or neither. */
static mg_status write_outputs(eval_run *r) {
  const eval_args *a = r->args;
  char *json = cJSON_Print(r->root);
  cli_text html = {0};
  mg_status st = json ? MG_OK : mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, a->out, "out of memory");
  if (st == MG_OK && a->html) {
    eval_report_input in = {r->root, &r->real, &r->synthetic, r->has_train ? &r->train : NULL, r->pair_sample,
                            r->pair_train, r->pairs};
    st = eval_report_html(&in, &html, r->err, sizeof r->err);
  }
  mg_atomic_file *fj = NULL, *fh = NULL;
  if (st == MG_OK) st = mg_atomic_file_open(a->out, &fj, r->err, sizeof r->err);
  if (st == MG_OK) st = mg_atomic_file_write(fj, json, strlen(json), r->err, sizeof r->err);
  if (st == MG_OK) st = mg_atomic_file_write(fj, "\n", 1, r->err, sizeof r->err);
  if (st == MG_OK && a->html) st = mg_atomic_file_open(a->html, &fh, r->err, sizeof r->err);
  if (st == MG_OK && a->html) st = mg_atomic_file_write(fh, html.data, html.len, r->err, sizeof r->err);
  if (st == MG_OK) {
    st = mg_atomic_file_commit(fj, r->err, sizeof r->err);
    fj = NULL;
  }
  if (st == MG_OK && fh) {
    st = mg_atomic_file_commit(fh, r->err, sizeof r->err);
    fh = NULL;
    if (st != MG_OK) remove(a->out); /* all or none */
  }
  mg_atomic_file_abort(fj);
  mg_atomic_file_abort(fh);
  cJSON_free(json);
  cli_text_free(&html);
  return st;
}

int medgen_cmd_eval(int argc, char **argv) {
  eval_args a;
  int parsed = parse_args(argc, argv, &a);
  if (parsed) return parsed == 1 ? 0 : 2;
  if (!cli_output_folder_writable("medgen eval", "--out", a.out) || (a.html && !cli_output_folder_writable("medgen eval", "--html", a.html))) return 1;
  char extractor[4200];
  if (a.features) snprintf(extractor, sizeof extractor, "%s", a.features);
  else if (!find_feature_extractor(extractor, sizeof extractor)) return 1;

  mg_ctx *ctx;
  int started = cli_context_create("medgen eval", a.device, (int)a.threads, a.tf32, &ctx, NULL);
  if (started) return started;
  eval_run *r = calloc(1, sizeof *r);
  if (!r) {
    fprintf(stderr, "medgen eval: out of memory\n");
    mg_context_free(ctx);
    return 1;
  }
  r->args = &a;
  r->root = cJSON_CreateObject();
  r->ctx = ctx;
  int code = 1;
  mg_status st = r->root && cJSON_AddArrayToObject(r->root, "notes")
                 ? MG_OK : mg_file_error(r->err, sizeof r->err, MG_ERR_OUT_OF_MEMORY, a.out, "out of memory");
  if (st == MG_OK) st = read_sets(r);
  if (st == MG_OK) st = extract_features(r, extractor);
  if (st == MG_OK) st = describe_run(r, extractor);
  if (st == MG_OK) r->metrics = add_object(r->root, "metrics");
  if (st == MG_OK) st = closeness(r);
  if (st == MG_OK) st = diversity(r);
  if (st == MG_OK) st = intensities(r);
  if (st == MG_OK) st = class_consistency(r);
  if (st == MG_OK) st = memorization(r);
  if (st == MG_OK) st = write_outputs(r);
  if (st != MG_OK) {
    fprintf(stderr, "medgen eval: %s; nothing written\n", r->err);
  } else {
    print_table(r->root);
    printf("medgen eval: wrote %s%s%s\n", a.out, a.html ? " and " : "", a.html ? a.html : "");
    code = 0;
  }
  eval_set_free(&r->real);
  eval_set_free(&r->synthetic);
  eval_set_free(&r->train);
  mg_classifier_free(r->extractor);
  free(r->f_real);
  free(r->f_synthetic);
  free(r->f_train);
  cJSON_Delete(r->root);
  mg_context_free(r->ctx);
  free(r);
  return code;
}
