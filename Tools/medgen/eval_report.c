/* eval_report.c: the HTML report of `medgen eval` (eval_report.h). One file that opens anywhere: the figures are
 * PNGs embedded as base64 data URIs, written by MedGen's PNG writer (synthetic images with their marker) into a
 * private temporary folder and read back. The numbers are the JSON's, printed with %.6g. */
#include "eval_report.h"

#include "mg_io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  GRID_IMAGES = 64, /* images in each grid */
  GRID_COLUMNS = 8,
  MIN_SHOWN = 64,   /* small images are magnified (pixels replicated) to at least this size */
  PLOT_WIDTH = 512,
  PLOT_HEIGHT = 200,
  PLOT_MARGIN = 8,
};

/* ---- small text helpers ---- */
static void escaped(cli_text *t, const char *s) {
  for (; *s; s++) {
    if (*s == '&') cli_text_append(t, "&amp;");
    else if (*s == '<') cli_text_append(t, "&lt;");
    else if (*s == '>') cli_text_append(t, "&gt;");
    else if (*s == '"') cli_text_append(t, "&quot;");
    else cli_text_append(t, "%c", *s);
  }
}

/* The item at a dotted path ("metrics.kid.mean") of the JSON, NULL when absent. */
static const cJSON *at(const cJSON *root, const char *path) {
  char key[128];
  const cJSON *item = root;
  while (item && *path) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    item = cJSON_GetObjectItemCaseSensitive(item, key);
    path += n + (path[n] == '.');
  }
  return item;
}

static const char *string_at(const cJSON *root, const char *path) {
  const cJSON *item = at(root, path);
  return cJSON_IsString(item) ? item->valuestring : "";
}

/* A table cell holding the JSON number at path (its key in data-key, for checks), "-" for none. */
static void number_cell(cli_text *t, const cJSON *root, const char *path) {
  const cJSON *item = at(root, path);
  if (cJSON_IsNumber(item)) cli_text_append(t, "<td data-key=\"%s\">%.6g</td>", path, item->valuedouble);
  else cli_text_append(t, "<td>-</td>");
}

/* ---- figures ---- */
typedef struct figures {
  char folder[4096]; /* the private temporary folder */
  int next;          /* figures written so far: file names */
} figures;

static void base64(cli_text *t, const unsigned char *data, size_t n) {
  static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char quad[5] = {0};
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)data[i] << 16 | (i + 1 < n ? (unsigned)data[i + 1] << 8 : 0) | (i + 2 < n ? data[i + 2] : 0);
    quad[0] = digits[v >> 18 & 63];
    quad[1] = digits[v >> 12 & 63];
    quad[2] = i + 1 < n ? digits[v >> 6 & 63] : '=';
    quad[3] = i + 2 < n ? digits[v & 63] : '=';
    cli_text_append(t, "%s", quad);
  }
}

/* Appends <img> for the PNG at path (its size from the IHDR chunk) and removes the file. */
static mg_status embed_png(cli_text *t, const char *path, const char *alt, char *err, size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot read the figure back (%s)", strerror(errno));
  unsigned char *data = NULL;
  size_t n = 0, cap = 0, got;
  unsigned char buf[1 << 16];
  bool ok = true;
  while (ok && (got = fread(buf, 1, sizeof buf, f)) > 0) {
    if (n + got > cap) {
      cap = 2 * (n + got);
      unsigned char *bigger = realloc(data, cap);
      ok = bigger != NULL;
      if (ok) data = bigger;
    }
    if (ok) memcpy(data + n, buf, got), n += got;
  }
  fclose(f);
  remove(path);
  if (!ok || n < 24) {
    free(data);
    return mg_file_error(err, err_size, ok ? MG_ERR_FORMAT : MG_ERR_OUT_OF_MEMORY, path,
                         ok ? "the figure is not a PNG" : "out of memory");
  }
  unsigned width = (unsigned)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
  unsigned height = (unsigned)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
  cli_text_append(t, "<img alt=\"%s\" width=\"%u\" height=\"%u\" src=\"data:image/png;base64,", alt, width, height);
  base64(t, data, n);
  cli_text_append(t, "\">");
  free(data);
  return t->failed ? mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for the report")
                   : MG_OK;
}

/* A grid of count images of a set (those index lists, or the first count when it is NULL), magnified when small. */
static mg_status grid_figure(cli_text *t, figures *fig, const eval_set *s, const int *index, int count, int columns,
                             bool synthetic, const char *alt, char *err, size_t err_size) {
  const int S = s->size, f = S < MIN_SHOWN ? (MIN_SHOWN + S - 1) / S : 1, shown = S * f;
  float *tiles = malloc((size_t)count * shown * shown * sizeof *tiles);
  if (!tiles) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory for a figure");
  for (int i = 0; i < count; i++)
    mg_image_resize_area(s->images + (size_t)(index ? index[i] : i) * S * S, S, S, shown,
                         tiles + (size_t)i * shown * shown);
  char path[4200];
  snprintf(path, sizeof path, "%s/figure-%d.png", fig->folder, fig->next++);
  mg_status st = mg_png_write_grid(path, tiles, count, shown, columns, -1, 1, synthetic, err, err_size);
  free(tiles);
  return st == MG_OK ? embed_png(t, path, alt, err, err_size) : st;
}

/* One synthetic image beside its nearest training image: one two-tile grid (marked synthetic). */
static mg_status pair_figure(cli_text *t, figures *fig, const eval_report_input *in, int p, char *err,
                             size_t err_size) {
  const int S = in->real->size;
  eval_set both = *in->synthetic;
  float *two = malloc((size_t)2 * S * S * sizeof *two);
  if (!two) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, in->synthetic->path, "out of memory");
  memcpy(two, in->synthetic->images + (size_t)in->pair_sample[p] * S * S, (size_t)S * S * sizeof *two);
  memcpy(two + (size_t)S * S, in->train->images + (size_t)in->pair_train[p] * S * S, (size_t)S * S * sizeof *two);
  both.images = two;
  mg_status st = grid_figure(t, fig, &both, NULL, 2, 2, true, "sample | nearest training image", err, err_size);
  free(two);
  return st;
}

static void draw_line(uint8_t *canvas, int x0, int y0, int x1, int y1, uint8_t value, bool dashed) {
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
  for (int step = 0;; step++) {
    if (!dashed || step / 4 % 2 == 0) canvas[y0 * PLOT_WIDTH + x0] = value;
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * e;
    if (e2 >= dy) e += dy, x0 += sx;
    if (e2 <= dx) e += dx, y0 += sy;
  }
}

/* The two intensity histograms as lines: real solid black, synthetic dashed gray, on white with axes. */
static mg_status histogram_figure(cli_text *t, figures *fig, const cJSON *hist, char *err, size_t err_size) {
  const cJSON *sets[2] = {cJSON_GetObjectItemCaseSensitive(hist, "real"),
                          cJSON_GetObjectItemCaseSensitive(hist, "synthetic")};
  const int bins = cJSON_GetArraySize(sets[0]);
  double top = 0;
  for (int k = 0; k < 2; k++)
    for (const cJSON *v = sets[k] ? sets[k]->child : NULL; v; v = v->next)
      top = v->valuedouble > top ? v->valuedouble : top;
  uint8_t *canvas = malloc((size_t)PLOT_WIDTH * PLOT_HEIGHT);
  if (!canvas) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, "the report", "out of memory for a plot");
  memset(canvas, 255, (size_t)PLOT_WIDTH * PLOT_HEIGHT);
  const int left = PLOT_MARGIN, right = PLOT_WIDTH - PLOT_MARGIN, bottom = PLOT_HEIGHT - PLOT_MARGIN,
            up = PLOT_MARGIN;
  draw_line(canvas, left, bottom, right, bottom, 0, false);
  draw_line(canvas, left, bottom, left, up, 0, false);
  for (int k = 0; k < 2 && bins > 1 && top > 0; k++) {
    int px = 0, py = 0;
    for (int b = 0; b < bins; b++) {
      int x = left + (int)lround((double)b * (right - left) / (bins - 1));
      int y = bottom - (int)lround(cJSON_GetArrayItem(sets[k], b)->valuedouble / top * (bottom - up));
      if (b > 0) draw_line(canvas, px, py, x, y, k == 0 ? 0 : 128, k == 1);
      px = x, py = y;
    }
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/figure-%d.png", fig->folder, fig->next++);
  mg_status st = mg_png_write(path, canvas, PLOT_WIDTH, PLOT_HEIGHT, false, err, err_size);
  free(canvas);
  return st == MG_OK ? embed_png(t, path, "intensity histograms", err, err_size) : st;
}

/* ---- the page ---- */
typedef struct metric_row {
  const char *name, *value, *baseline, *how;
} metric_row;

static const metric_row METRIC_ROWS[] = {
    {"Fr&eacute;chet distance (features)", "metrics.frechet_distance.value", "metrics.frechet_distance.real_vs_real",
     "Distance between Gaussians fitted to the features of each set; lower is closer. Two halves of the real set "
     "score the baseline: what a perfect generator reaches with this many images."},
    {"KID (features)", "metrics.kid.mean", "metrics.kid.real_vs_real_mean",
     "Kernel distance, unbiased: about 0 for the same distribution, less sensitive to the set size than FD."},
    {"KID standard deviation", "metrics.kid.std", "metrics.kid.real_vs_real_std",
     "Spread of KID over random subsets: differences smaller than this are noise."},
    {"precision (k = 3)", "metrics.precision_recall.precision", NULL,
     "Share of synthetic images that fall inside the real images' manifold: realism."},
    {"recall (k = 3)", "metrics.precision_recall.recall", NULL,
     "Share of real images that fall inside the synthetic images' manifold: coverage; low for a collapsed model."},
    {"MS-SSIM diversity", "metrics.ms_ssim_diversity.synthetic", "metrics.ms_ssim_diversity.real",
     "Mean MS-SSIM over random pairs within the set (baseline: within the real set); higher = less diverse, 1 = "
     "the same image repeated."},
    {"intensity histogram distance", "metrics.intensity_histogram.distance", NULL,
     "Earth mover's distance between the pixel-value histograms, as a share of their range: 0 = same intensities."},
    {"mean intensity (real units)", "metrics.intensity_histogram.mean_synthetic",
     "metrics.intensity_histogram.mean_real", "Mean pixel value in the real set's units (baseline: the real set)."},
    {"class consistency", "metrics.class_consistency.agreement", "metrics.class_consistency.real_accuracy",
     "How often a classifier names the class each image was generated for; baseline: its accuracy on real images."},
    {"memorization (pixels)", "metrics.memorization.pixel.fraction_closer", NULL,
     "Share of samples closer to a training image than 99% of held-out real images are: about 0.01 when nothing is "
     "copied, near 1 for copies."},
    {"memorization (features)", "metrics.memorization.feature.fraction_closer", NULL,
     "The same in feature space."},
};

static void metric_table(cli_text *t, const cJSON *root) {
  cli_text_append(t, "<h2>Metrics</h2>\n<table id=\"metrics\">\n<tr><th>metric</th><th>synthetic</th>"
                     "<th>baseline</th><th>how to read</th></tr>\n");
  for (size_t i = 0; i < sizeof METRIC_ROWS / sizeof *METRIC_ROWS; i++) {
    const metric_row *m = &METRIC_ROWS[i];
    if (!at(root, m->value)) continue; /* not computed for this run */
    cli_text_append(t, "<tr><td>%s</td>", m->name);
    number_cell(t, root, m->value);
    if (m->baseline) number_cell(t, root, m->baseline);
    else cli_text_append(t, "<td>-</td>");
    cli_text_append(t, "<td>%s</td></tr>\n", m->how);
  }
  cli_text_append(t, "</table>\n");
  const cJSON *per_class = at(root, "metrics.class_consistency.per_class");
  if (cJSON_GetArraySize(per_class) > 0) {
    cli_text_append(t, "<h3>Class consistency per class (classifier: ");
    escaped(t, string_at(root, "metrics.class_consistency.classifier"));
    cli_text_append(t, ")</h3>\n<table id=\"classes\">\n<tr><th>class</th><th>synthetic images</th>"
                       "<th>agreement</th><th>real images</th><th>real accuracy</th></tr>\n");
    char path[128];
    for (int i = 0; i < cJSON_GetArraySize(per_class); i++) {
      cli_text_append(t, "<tr><td>");
      escaped(t, string_at(cJSON_GetArrayItem(per_class, i), "class"));
      cli_text_append(t, "</td>");
      static const char *keys[] = {"synthetic_images", "agreement", "real_images", "real_accuracy"};
      for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "metrics.class_consistency.per_class.%d.%s", i, keys[k]);
        const cJSON *item = at(cJSON_GetArrayItem(per_class, i), keys[k]);
        if (cJSON_IsNumber(item)) cli_text_append(t, "<td data-key=\"%s\">%.6g</td>", path, item->valuedouble);
        else cli_text_append(t, "<td>-</td>");
      }
      cli_text_append(t, "</tr>\n");
    }
    cli_text_append(t, "</table>\n");
  }
}

static void header(cli_text *t, const cJSON *root) {
  cli_text_append(t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<title>MedGen evaluation</title>\n<style>\n"
                     "body { font-family: sans-serif; margin: 2em; max-width: 80em; }\n"
                     "table { border-collapse: collapse; margin: 1em 0; }\n"
                     "td, th { border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; }\n"
                     "td[data-key] { text-align: right; font-variant-numeric: tabular-nums; }\n"
                     ".warning { border: 2px solid #b00; padding: 0.6em 1em; background: #fee; }\n"
                     ".side { display: flex; gap: 2em; }\n"
                     ".side figure { margin: 0; flex: 1 1 0; }\n"
                     "img { image-rendering: pixelated; max-width: 100%%; height: auto; }\n"
                     "</style>\n</head>\n<body>\n<h1>MedGen evaluation report</h1>\n"
                     "<p class=\"warning\"><strong>Synthetic images</strong> in this report were generated by a model "
                     "and are marked synthetic in their metadata; they are not for diagnosis. <strong>This report also "
                     "contains real images</strong> (the real set");
  if (at(root, "inputs.train.path")) cli_text_append(t, " and the training set");
  cli_text_append(t, "), which may be patient data: keep it local and do not share it.</p>\n<table id=\"inputs\">\n");
  static const char *sets[] = {"real", "synthetic", "train"};
  char key[64];
  for (int k = 0; k < 3; k++) {
    snprintf(key, sizeof key, "inputs.%s", sets[k]);
    const cJSON *s = at(root, key);
    if (!cJSON_IsObject(s)) continue;
    cli_text_append(t, "<tr><th>%s</th><td>", sets[k]);
    escaped(t, string_at(s, "path"));
    cli_text_append(t, "</td><td>%g of %g images</td></tr>\n", at(s, "images_used")->valuedouble,
                    at(s, "images_found")->valuedouble);
  }
  cli_text_append(t, "<tr><th>feature extractor</th><td>");
  escaped(t, string_at(root, "feature_extractor.name"));
  cli_text_append(t, "</td><td>");
  escaped(t, string_at(root, "feature_extractor.checksum"));
  cli_text_append(t, "</td></tr>\n<tr><th>synthetic marker</th><td colspan=\"2\">%g of %g synthetic files carry "
                     "MedGen's synthetic marker</td></tr>\n</table>\n",
                  at(root, "synthetic_marker.marked")->valuedouble, at(root, "synthetic_marker.files")->valuedouble);
  const cJSON *notes = at(root, "notes");
  if (cJSON_GetArraySize(notes) > 0) {
    cli_text_append(t, "<h2>Notes</h2>\n<ul>\n");
    for (const cJSON *n = notes->child; n; n = n->next) {
      cli_text_append(t, "<li>");
      escaped(t, cJSON_IsString(n) ? n->valuestring : "");
      cli_text_append(t, "</li>\n");
    }
    cli_text_append(t, "</ul>\n");
  }
}

/* Up to GRID_IMAGES of a set, evenly spaced (every class shows), into index; returns how many. */
static int grid_choice(const eval_set *s, int *index) {
  int n = s->count < GRID_IMAGES ? s->count : GRID_IMAGES;
  for (int i = 0; i < n; i++) index[i] = (int)((int64_t)i * s->count / n);
  return n;
}

static mg_status figures_body(cli_text *t, figures *fig, const eval_report_input *in, char *err, size_t err_size) {
  int index[GRID_IMAGES];
  cli_text_append(t, "<h2>Images</h2>\n<div class=\"side\">\n<figure>");
  int n = grid_choice(in->synthetic, index);
  mg_status st = grid_figure(t, fig, in->synthetic, index, n, GRID_COLUMNS, true, "synthetic images", err, err_size);
  if (st != MG_OK) return st;
  cli_text_append(t, "<figcaption>%d synthetic images of %d</figcaption></figure>\n<figure>", n, in->synthetic->count);
  n = grid_choice(in->real, index);
  st = grid_figure(t, fig, in->real, index, n, GRID_COLUMNS, false, "real images", err, err_size);
  if (st != MG_OK) return st;
  cli_text_append(t, "<figcaption>%d real images of %d</figcaption></figure>\n</div>\n", n, in->real->count);

  const cJSON *hist = at(in->results, "metrics.intensity_histogram");
  cli_text_append(t, "<h2>Intensity histograms</h2>\n<figure>");
  st = histogram_figure(t, fig, hist, err, err_size);
  if (st != MG_OK) return st;
  cli_text_append(t, "<figcaption>pixel values from %.6g to %.6g (the real set's units), %d bins: real solid black, "
                     "synthetic dashed gray</figcaption></figure>\n", at(hist, "lo")->valuedouble,
                  at(hist, "hi")->valuedouble, cJSON_GetArraySize(at(hist, "real")));

  if (!in->train || in->pairs == 0) return MG_OK;
  cli_text_append(t, "<h2>Synthetic images closest to training images</h2>\n<p>Each sample beside its nearest "
                     "training image (pixel space). Near-zero distances mean copies.</p>\n<table id=\"pairs\">\n"
                     "<tr><th>sample | nearest training image</th><th>pixel distance</th><th>feature distance</th>"
                     "<th>files</th></tr>\n");
  const cJSON *pairs = at(in->results, "metrics.memorization.closest_pairs");
  char key[96];
  for (int p = 0; p < in->pairs && st == MG_OK; p++) {
    cli_text_append(t, "<tr><td>");
    st = pair_figure(t, fig, in, p, err, err_size);
    snprintf(key, sizeof key, "metrics.memorization.closest_pairs.%d.pixel_distance", p);
    cli_text_append(t, "</td><td data-key=\"%s\">%.6g</td>", key,
                    at(cJSON_GetArrayItem(pairs, p), "pixel_distance")->valuedouble);
    snprintf(key, sizeof key, "metrics.memorization.closest_pairs.%d.feature_distance", p);
    cli_text_append(t, "<td data-key=\"%s\">%.6g</td><td>", key,
                    at(cJSON_GetArrayItem(pairs, p), "feature_distance")->valuedouble);
    escaped(t, string_at(cJSON_GetArrayItem(pairs, p), "sample"));
    cli_text_append(t, "<br>");
    escaped(t, string_at(cJSON_GetArrayItem(pairs, p), "training_image"));
    cli_text_append(t, "</td></tr>\n");
  }
  cli_text_append(t, "</table>\n");
  return st;
}

mg_status eval_report_html(const eval_report_input *in, cli_text *html, char *err, size_t err_size) {
  figures fig = {0};
  const char *tmp = getenv("TMPDIR");
  snprintf(fig.folder, sizeof fig.folder, "%s/medgen-eval-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fig.folder))
    return mg_file_error(err, err_size, MG_ERR_IO, fig.folder, "cannot create a temporary folder for the report's "
                         "figures (%s)", strerror(errno));
  header(html, in->results);
  metric_table(html, in->results);
  mg_status st = figures_body(html, &fig, in, err, err_size);
  cli_text_append(html, "<p>Written by medgen %s.</p>\n</body>\n</html>\n", MEDGEN_VERSION_STRING);
  for (int i = 0; i < fig.next; i++) { /* what a failure left */
    char path[4200];
    snprintf(path, sizeof path, "%s/figure-%d.png", fig.folder, i);
    remove(path);
  }
  rmdir(fig.folder);
  if (st == MG_OK && html->failed)
    st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, "the report", "out of memory");
  return st;
}
