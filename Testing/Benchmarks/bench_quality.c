/* bench_quality.c: the quality benchmarks' judge: how good are a generative model's samples, by three measures
 * that need no network trained elsewhere.
 *
 * Real images: a labelled folder (class subfolders); in each class every tenth image (sorted names: the 1st, 11th,
 * ...) is held out, the rest is "the training part". The model under test should have been trained on the training
 * part or a subset of it (--train names that set; default: the whole training part), never on held-out images.
 * Samples: a NIfTI stack written by `medgen sample` and the CSV beside it naming each slice's class ("none" for an
 * unconditional model: --class says which class they should all show).
 *
 * 1. Class consistency: MedGen's CNN classifier, trained on the training part (its accuracy on the held-out images
 *    is printed first, so we know the judge is good), says how often a sample shows the class it was drawn for.
 * 2. Diversity: per class, the mean L2 distance between two samples over the same for two held-out real images.
 *    About 1: as varied as real images; well below 1: mode collapse. Overall: the mean over classes.
 * 3. Memorization: each sample's L2 distance to its nearest training image, against the same for held-out real
 *    images (which the model never saw): medians and their ratio (about 1: no copying; well below 1: samples sit
 *    on training images), and the share of samples nearer to a training image than 95% of held-out images are
 *    (about 0.05 when nothing is copied).
 * Distances are taken on the images scaled to [-1, 1] (the real folder's scaling) at --size.
 *
 * Usage: medgen_bench_quality --real FOLDER --samples STACK.nii.gz [--train FOLDER] [--class NAME] [--size N]
 *                             [--steps N] [--threads N] [--device auto|cpu|cuda] [--tf32]
 * Last line: real_val_accuracy=X sample_accuracy=Y diversity=Z nn_ratio=W copy_fraction=V (NaN where a measure
 * does not apply). */
#include "bench_util.h"
#include "medgen.h"
#include "mg_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SET = 1000 }; /* real images per pairwise or nearest-neighbour comparison, evenly spaced */

static int fail(const char *msg) {
  fprintf(stderr, "medgen_bench_quality: %s\n", msg);
  return 1;
}

/* Images chosen from a pool by index. */
typedef struct image_set {
  int count;
  int *index;
} image_set;

/* At most MAX_SET of the pool images of class c (c < 0: all), evenly spaced. */
static image_set pick(const int32_t *labels, int pool, int c, int *scratch) {
  int n = 0;
  for (int i = 0; i < pool; i++)
    if (c < 0 || labels[i] == c) scratch[n++] = i;
  image_set s = {n < MAX_SET ? n : MAX_SET, scratch};
  for (int k = 0; n > MAX_SET && k < MAX_SET; k++) scratch[k] = scratch[(int64_t)k * n / MAX_SET];
  return s;
}

static double squared_distance(const float *a, const float *b, int64_t per) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < per; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
}

/* Mean L2 distance over all pairs of the set (NaN with fewer than two images). */
static double mean_pairwise(const float *images, image_set s, int64_t per) {
  if (s.count < 2) return NAN;
  double sum = 0;
#pragma omp parallel for schedule(dynamic, 8) reduction(+ : sum)
  for (int i = 0; i < s.count; i++)
    for (int j = i + 1; j < s.count; j++)
      sum += sqrt(squared_distance(images + (size_t)s.index[i] * per, images + (size_t)s.index[j] * per, per));
  return sum / ((double)s.count * (s.count - 1) / 2);
}

/* For each query image, the L2 distance to its nearest image in the reference set. */
static void nearest(const float *queries, image_set q, const float *ref, int ref_count, int64_t per, double *out) {
#pragma omp parallel for schedule(dynamic, 4)
  for (int i = 0; i < q.count; i++) {
    const float *a = queries + (size_t)q.index[i] * per;
    double best = INFINITY;
    for (int j = 0; j < ref_count; j++) {
      double d = squared_distance(a, ref + (size_t)j * per, per);
      if (d < best) best = d;
    }
    out[i] = sqrt(best);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The q-quantile of sorted values (linear between neighbours). */
static double quantile(const double *sorted, int n, double q) {
  double at = q * (n - 1);
  int lo = (int)at;
  return lo + 1 < n ? sorted[lo] + (at - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[n - 1];
}

/* slice,class lines: class indices by name among the real folder's classes, -1 for "none". Returns the number of
 * slices read or -1 (reported). */
static int read_classes(const char *path, const mg_image_folder *f, int32_t *labels, int max) {
  FILE *fp = fopen(path, "r");
  if (!fp) return -1;
  char line[512];
  int n = 0;
  if (!fgets(line, sizeof line, fp)) n = -1; /* header */
  while (n >= 0 && n < max && fgets(line, sizeof line, fp)) {
    char *comma = strchr(line, ',');
    if (!comma) {
      n = -1;
      break;
    }
    comma[strcspn(comma, "\r\n")] = '\0';
    int label = !strcmp(comma + 1, "none") ? -1 : -2;
    for (int c = 0; c < f->data.num_classes; c++)
      if (!strcmp(comma + 1, f->class_names[c])) label = c;
    if (label == -2) {
      fprintf(stderr, "%s: class '%s' is not one of the real images' classes\n", path, comma + 1);
      n = -1;
      break;
    }
    labels[n++] = label;
  }
  fclose(fp);
  return n;
}

static int class_index(const mg_image_folder *f, const char *name) {
  for (int c = 0; c < f->data.num_classes; c++)
    if (!strcmp(name, f->class_names[c])) return c;
  return -1;
}

int main(int argc, char **argv) {
  const char *real_path = NULL, *train_path = NULL, *samples_path = NULL, *class_name = NULL;
  int size = 32, steps = 400, threads = 0;
  bench_device dev = {MG_DEVICE_AUTO, 0};
  const char *usage = "usage: medgen_bench_quality --real FOLDER --samples STACK.nii.gz [--train FOLDER]\n"
                      "       [--class NAME] [--size N] [--steps N] [--threads N] [--device auto|cpu|cuda] [--tf32]\n"
                      BENCH_DEVICE_HELP;
  const char *bad = NULL; /* the option that is unknown or lacks its value */
  for (int i = 1; i < argc && !bad; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage, stdout);
      return 0;
    }
    int taken = bench_parse_device(argc, argv, &i, "medgen_bench_quality", &dev);
    if (taken == 2) return 2;
    if (taken) continue;
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) bad = argv[i];
    else if (!strcmp(argv[i - 1], "--real")) real_path = v;
    else if (!strcmp(argv[i - 1], "--train")) train_path = v;
    else if (!strcmp(argv[i - 1], "--samples")) samples_path = v;
    else if (!strcmp(argv[i - 1], "--class")) class_name = v;
    else if (!strcmp(argv[i - 1], "--size")) size = atoi(v);
    else if (!strcmp(argv[i - 1], "--steps")) steps = atoi(v);
    else if (!strcmp(argv[i - 1], "--threads")) threads = atoi(v);
    else bad = argv[i - 1];
  }
  if (bad || !real_path || !samples_path) {
    if (bad) fprintf(stderr, "medgen_bench_quality: unknown option or missing value '%s'\n", bad);
    fprintf(stderr, "medgen_bench_quality: %s", usage);
    return 2;
  }
  char err[4096];
  mg_image_folder real;
  if (mg_image_folder_read(real_path, size, 0, NULL, &real, err, sizeof err) != MG_OK) return fail(err);
  const mg_dataset *all = &real.data;
  if (all->num_classes < 2) return fail("the real folder needs class subfolders");
  const int64_t per = (int64_t)size * size;
  int wanted_class = class_name ? class_index(&real, class_name) : -1;
  if (class_name && wanted_class < 0) return fail("--class is not one of the real folder's classes");

  /* split: in each class, every tenth image is held out */
  int n_val = 0, seen[MG_MAX_CLASSES] = {0};
  char *held = malloc((size_t)all->count);
  if (!held) return fail("out of memory");
  for (int i = 0; i < all->count; i++) n_val += held[i] = seen[all->labels[i]]++ % 10 == 0;
  int n_train = all->count - n_val;
  float *train_img = malloc((size_t)n_train * per * sizeof(float));
  float *val_img = malloc((size_t)n_val * per * sizeof(float));
  int32_t *train_lab = malloc((size_t)n_train * sizeof(int32_t)), *val_lab = malloc((size_t)n_val * sizeof(int32_t));
  if (!train_img || !val_img || !train_lab || !val_lab) return fail("out of memory");
  for (int i = 0, t = 0, v = 0; i < all->count; i++) {
    memcpy((held[i] ? val_img + (size_t)v * per : train_img + (size_t)t * per), all->images + (size_t)i * per,
           (size_t)per * sizeof(float));
    if (held[i]) val_lab[v++] = all->labels[i];
    else train_lab[t++] = all->labels[i];
  }
  mg_dataset train = *all;
  train.count = n_train;
  train.images = train_img;
  train.labels = train_lab;

  mg_ctx *ctx = bench_context_create("medgen_bench_quality", &dev, threads);
  if (!ctx) return 1;
  mg_classifier_options co = mg_classifier_default_options();
  co.steps = steps;
  co.width = 16; /* 99.4% on held-out MedNIST at width 8 and 100 steps; 16 and 400 leave no doubt about the judge */
  mg_classifier *cls = NULL;
  printf("training the judge: a CNN classifier on %d real images (%d classes), %d steps\n", n_train, all->num_classes,
         steps);
  fflush(stdout);
  if (mg_classifier_train(ctx, &train, &co, NULL, NULL, &cls) != MG_OK) return fail(mg_context_error(ctx));
  int32_t *pred = malloc((size_t)n_val * sizeof(int32_t));
  if (!pred) return fail("out of memory");
  if (mg_classifier_predict(cls, val_img, n_val, pred, NULL) != MG_OK) return fail(mg_context_error(ctx));
  int right = 0;
  for (int i = 0; i < n_val; i++) right += pred[i] == val_lab[i];
  double val_acc = (double)right / n_val;
  printf("judge accuracy on %d held-out real images: %.4f\n", n_val, val_acc);

  /* the samples: a NIfTI stack (rows stored bottom-up, as medgen sample writes them) and its class list */
  mg_volume vol;
  if (mg_nifti_read(samples_path, &vol, err, sizeof err) != MG_OK) return fail(err);
  if (vol.dim[0] != size || vol.dim[1] != size) return fail("the samples' size differs from --size");
  int n = vol.dim[2];
  int32_t *want = malloc((size_t)n * sizeof(int32_t));
  float *img = malloc((size_t)n * per * sizeof(float));
  free(pred);
  pred = malloc((size_t)n * sizeof(int32_t));
  if (!want || !img || !pred) return fail("out of memory");
  char csv[4200];
  size_t len = strlen(samples_path), base = len - (len > 7 && !strcmp(samples_path + len - 7, ".nii.gz") ? 7 : 4);
  snprintf(csv, sizeof csv, "%.*s.csv", (int)base, samples_path);
  if (read_classes(csv, &real, want, n) != n) return fail("cannot read the samples' class list (STACK.csv)");
  for (int i = 0; i < n; i++) {
    if (want[i] >= 0 && wanted_class >= 0 && want[i] != wanted_class)
      return fail("--class contradicts the classes the samples were drawn for");
    if (want[i] < 0) want[i] = wanted_class;
  }
  for (int i = 0; i < n; i++)
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++) {
        float v = vol.data[((size_t)i * size + (size - 1 - y)) * size + x];
        img[(size_t)i * per + (size_t)y * size + x] = (float)((v - all->norm_offset) / all->norm_scale);
      }

  /* 1. class consistency */
  double sample_acc = NAN;
  if (mg_classifier_predict(cls, img, n, pred, NULL) != MG_OK) return fail(mg_context_error(ctx));
  int total_right = 0, total_wanted = 0;
  printf("\nclass consistency (does the judge see the class a sample was drawn for?)\n%-12s %8s %8s\n", "class",
         "samples", "agree");
  for (int c = 0; c < all->num_classes; c++) {
    int count = 0, ok = 0;
    for (int i = 0; i < n; i++)
      if (want[i] == c) count++, ok += pred[i] == c;
    total_right += ok;
    total_wanted += count;
    if (count) printf("%-12s %8d %8.3f\n", real.class_names[c], count, (double)ok / count);
  }
  if (total_wanted) sample_acc = (double)total_right / total_wanted;
  printf("%-12s %8d %8.3f\n", "all", total_wanted, sample_acc);

  /* 2. diversity, per class drawn (or over everything for samples of no class) */
  int *scratch_s = malloc((size_t)n * sizeof(int)), *scratch_r = malloc((size_t)n_val * sizeof(int));
  if (!scratch_s || !scratch_r) return fail("out of memory");
  printf("\ndiversity (mean pairwise L2 distance: samples / held-out real images; about 1 = no collapse)\n"
         "%-12s %8s %10s %10s %8s\n", "class", "samples", "samples", "real", "ratio");
  double ratio_sum = 0;
  int ratio_count = 0;
  for (int c = total_wanted ? 0 : -1; c < (total_wanted ? all->num_classes : 0); c++) {
    image_set s = pick(want, n, c, scratch_s), r = pick(val_lab, n_val, c, scratch_r);
    if (s.count < 2 || r.count < 2) continue;
    double ds = mean_pairwise(img, s, per), dr = mean_pairwise(val_img, r, per);
    printf("%-12s %8d %10.3f %10.3f %8.3f\n", c >= 0 ? real.class_names[c] : "(no class)", s.count, ds, dr, ds / dr);
    ratio_sum += ds / dr;
    ratio_count++;
  }
  double diversity = ratio_count ? ratio_sum / ratio_count : NAN;
  printf("%-12s %8s %10s %10s %8.3f\n", "mean", "", "", "", diversity);

  /* 3. memorization: nearest training image of each sample and of held-out images of the classes drawn */
  mg_image_folder given = {0};
  const float *ref = train_img;
  int ref_count = n_train;
  float *ref_own = NULL;
  if (train_path) {
    if (mg_image_folder_read(train_path, size, 0, NULL, &given, err, sizeof err) != MG_OK) return fail(err);
    ref_count = given.data.count;
    ref = ref_own = malloc((size_t)ref_count * per * sizeof(float));
    if (!ref_own) return fail("out of memory");
    for (int64_t k = 0; k < (int64_t)ref_count * per; k++) /* into the real folder's scaling */
      ref_own[k] = (float)((given.data.images[k] * given.data.norm_scale + given.data.norm_offset - all->norm_offset) /
                           all->norm_scale);
  }
  bool drawn[MG_MAX_CLASSES] = {false};
  for (int i = 0; i < n; i++)
    if (want[i] >= 0) drawn[want[i]] = true;
  int m = 0; /* held-out images of the classes drawn, evenly spaced over them */
  for (int i = 0; i < n_val; i++)
    if (!total_wanted || drawn[val_lab[i]]) scratch_r[m++] = i;
  image_set r = {m < MAX_SET ? m : MAX_SET, scratch_r};
  for (int k = 0; m > MAX_SET && k < MAX_SET; k++) scratch_r[k] = scratch_r[(int64_t)k * m / MAX_SET];
  image_set s = {n, scratch_s};
  for (int i = 0; i < n; i++) scratch_s[i] = i;
  double *nn_s = malloc((size_t)n * sizeof(double)), *nn_r = malloc((size_t)(r.count + 1) * sizeof(double));
  if (!nn_s || !nn_r) return fail("out of memory");
  printf("\nmemorization (L2 distance to the nearest of %d training images)\n", ref_count);
  fflush(stdout);
  nearest(img, s, ref, ref_count, per, nn_s);
  nearest(val_img, r, ref, ref_count, per, nn_r);
  qsort(nn_s, (size_t)n, sizeof *nn_s, cmp_double);
  qsort(nn_r, (size_t)r.count, sizeof *nn_r, cmp_double);
  double med_s = quantile(nn_s, n, 0.5), med_r = r.count ? quantile(nn_r, r.count, 0.5) : NAN;
  double q05 = r.count ? quantile(nn_r, r.count, 0.05) : NAN;
  int closer = 0, exact = 0;
  for (int i = 0; i < n; i++) closer += nn_s[i] < q05;
  for (int i = 0; i < r.count; i++) exact += nn_r[i] == 0;
  double copy_fraction = (double)closer / n;
  printf("samples:  %d, median %.3f, 5%% quantile %.3f\n", n, med_s, quantile(nn_s, n, 0.05));
  printf("held-out: %d real images, median %.3f, 5%% quantile %.3f\n", r.count, med_r, q05);
  if (exact) /* MedNIST has some duplicate images; many here would mean the model saw held-out images */
    printf("          (%d of them have an exact copy among the training images)\n", exact);
  printf("median ratio (samples / held-out; about 1 = no copying): %.3f\n", med_s / med_r);
  printf("samples nearer to a training image than the held-out 5%% quantile: %.3f (about 0.05 = no copying)\n",
         copy_fraction);
  printf("real_val_accuracy=%.4f sample_accuracy=%.4f diversity=%.4f nn_ratio=%.4f copy_fraction=%.4f\n", val_acc,
         sample_acc, diversity, med_s / med_r, copy_fraction);
  mg_volume_free(&vol);
  mg_classifier_free(cls);
  mg_context_free(ctx);
  mg_image_folder_free(&real);
  mg_image_folder_free(&given);
  free(held), free(train_img), free(val_img), free(train_lab), free(val_lab), free(pred), free(want), free(img);
  free(scratch_s), free(scratch_r), free(nn_s), free(nn_r), free(ref_own);
  return 0;
}
