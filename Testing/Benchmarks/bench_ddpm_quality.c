/* bench_ddpm_quality.c: do a diffusion model's samples look like the class they were asked for?
 *
 * Trains MedGen's small CNN classifier (mg_classifier) on nine tenths of a real labelled image folder, reports its
 * accuracy on the remaining tenth (so we know the judge is good), then classifies synthetic images written by
 * `medgen sample` (a NIfTI stack plus the CSV naming each slice's requested class) and reports, per class and
 * overall, how often the classifier agrees with the requested class.
 *
 * Usage: medgen_bench_ddpm_quality --data FOLDER --samples STACK.nii.gz [--size N] [--steps N] [--threads N]
 * Last line: real_val_accuracy=X sample_accuracy=Y */
#include "medgen.h"
#include "mg_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *msg) {
  fprintf(stderr, "medgen_bench_ddpm_quality: %s\n", msg);
  return 1;
}

/* slice,class lines; returns the number of slices read or -1. Class indices by name from the folder's classes. */
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
    int label = -1;
    for (int c = 0; c < f->data.num_classes; c++)
      if (!strcmp(comma + 1, f->class_names[c])) label = c;
    if (label < 0) {
      fprintf(stderr, "%s: class '%s' is not one of the data's classes\n", path, comma + 1);
      n = -1;
      break;
    }
    labels[n++] = label;
  }
  fclose(fp);
  return n;
}

int main(int argc, char **argv) {
  const char *data_path = NULL, *samples_path = NULL;
  int size = 32, steps = 400, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--data")) data_path = argv[i + 1];
    else if (!strcmp(argv[i], "--samples")) samples_path = argv[i + 1];
    else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else return fail("usage: --data FOLDER --samples STACK.nii.gz [--size N] [--steps N] [--threads N]");
  }
  if (!data_path || !samples_path) return fail("--data and --samples are required");
  char err[4096];
  mg_image_folder folder;
  if (mg_image_folder_read(data_path, size, 0, &folder, err, sizeof err) != MG_OK) return fail(err);
  const mg_dataset *all = &folder.data;
  if (all->num_classes < 2) return fail("the data folder needs class subfolders");
  const int64_t per = (int64_t)size * size;

  /* split: every tenth image (in folder order) is held out */
  int n_val = (all->count + 9) / 10, n_train = all->count - n_val;
  float *train_img = malloc((size_t)n_train * per * sizeof(float)), *val_img = malloc((size_t)n_val * per * sizeof(float));
  int32_t *train_lab = malloc((size_t)n_train * sizeof(int32_t)), *val_lab = malloc((size_t)n_val * sizeof(int32_t));
  if (!train_img || !val_img || !train_lab || !val_lab) return fail("out of memory");
  for (int i = 0, t = 0, v = 0; i < all->count; i++) {
    bool val = i % 10 == 0;
    memcpy((val ? val_img + (size_t)v * per : train_img + (size_t)t * per), all->images + (size_t)i * per,
           (size_t)per * sizeof(float));
    if (val) val_lab[v++] = all->labels[i];
    else train_lab[t++] = all->labels[i];
  }
  mg_dataset train = *all;
  train.count = n_train;
  train.images = train_img;
  train.labels = train_lab;

  mg_ctx *ctx = NULL;
  mg_context_options copt = {MG_DEVICE_CPU, threads};
  if (mg_context_create(&copt, &ctx, err, sizeof err) != MG_OK) return fail(err);
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
  if (read_classes(csv, &folder, want, n) != n) return fail("cannot read the samples' class list (STACK.csv)");
  for (int i = 0; i < n; i++)
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++) {
        float v = vol.data[((size_t)i * size + (size - 1 - y)) * size + x];
        img[(size_t)i * per + (size_t)y * size + x] = (float)((v - all->norm_offset) / all->norm_scale);
      }
  if (mg_classifier_predict(cls, img, n, pred, NULL) != MG_OK) return fail(mg_context_error(ctx));
  int total_right = 0;
  printf("%-12s %8s %8s\n", "class", "samples", "agree");
  for (int c = 0; c < all->num_classes; c++) {
    int count = 0, ok = 0;
    for (int i = 0; i < n; i++)
      if (want[i] == c) count++, ok += pred[i] == c;
    total_right += ok;
    printf("%-12s %8d %8.3f\n", folder.class_names[c], count, count ? (double)ok / count : 0.0);
  }
  printf("real_val_accuracy=%.4f sample_accuracy=%.4f\n", val_acc, (double)total_right / n);
  mg_volume_free(&vol);
  mg_classifier_free(cls);
  mg_context_free(ctx);
  mg_image_folder_free(&folder);
  free(train_img), free(val_img), free(train_lab), free(val_lab), free(pred), free(want), free(img);
  return 0;
}
