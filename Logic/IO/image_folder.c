/* image_folder.c: a folder of 2D training images (one subfolder per class, or images directly in it) as one
 * mg_dataset. The whole tree is listed and checked before any image is decoded, so a layout problem (an empty
 * class, a nested folder, images beside class folders) is reported at once, not after minutes of reading. */
#define _DEFAULT_SOURCE /* readdir's d_type (glibc hides it under plain POSIX): saves a stat per file */
#include "mg_io_internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { FOLDER_MAX_SIZE = 16384, FOLDER_PATH_MAX = 4096 };

/* A growable array of malloc'ed strings. */
typedef struct string_list {
  char **items;
  int count, cap;
} string_list;

static bool list_push(string_list *l, const char *s) {
  if (l->count == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    char **bigger = realloc(l->items, (size_t)cap * sizeof *bigger);
    if (!bigger) return false;
    l->items = bigger;
    l->cap = cap;
  }
  char *copy = strdup(s);
  if (!copy) return false;
  l->items[l->count++] = copy;
  return true;
}

static void list_free(string_list *l) {
  for (int i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Notes that often sit beside a data set: skipped rather than refused. */
static bool is_text_file(const char *name) {
  return strncasecmp(name, "README", 6) == 0 || has_suffix(name, ".txt") || has_suffix(name, ".md") ||
         has_suffix(name, ".csv") || has_suffix(name, ".json");
}

static mg_status join_path(char *buf, const char *dir, const char *name, char *err, size_t err_size) {
  if (snprintf(buf, FOLDER_PATH_MAX, "%s/%s", dir, name) >= FOLDER_PATH_MAX)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, dir, "path of \"%s\" is too long", name);
  return MG_OK;
}

/* Lists a folder's visible entries, sorted: subfolders into dirs, files into files (text files left out).
 * Anything else (a socket, a broken link) is refused by name. */
static mg_status list_folder(const char *path, string_list *dirs, string_list *files, char *err, size_t err_size) {
  DIR *d = opendir(path);
  if (!d) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the folder (%s)", strerror(errno));
  mg_status st = MG_OK;
  char full[FOLDER_PATH_MAX];
  for (struct dirent *e; st == MG_OK && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue; /* hidden, and "." and ".." */
    bool is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
    if (!is_dir && !is_file) { /* a link, or a file system that does not say: ask stat */
      struct stat sb;
      st = join_path(full, path, e->d_name, err, err_size);
      if (st != MG_OK) break;
      if (stat(full, &sb) != 0) {
        st = mg_file_error(err, err_size, MG_ERR_IO, full, "cannot read (%s)", strerror(errno));
        break;
      }
      is_dir = S_ISDIR(sb.st_mode);
      is_file = S_ISREG(sb.st_mode);
      if (!is_dir && !is_file) {
        st = mg_file_error(err, err_size, MG_ERR_FORMAT, full, "neither an image file nor a class folder");
        break;
      }
    }
    if (is_file && is_text_file(e->d_name)) continue;
    if (!list_push(is_dir ? dirs : files, e->d_name))
      st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory listing the folder");
  }
  closedir(d);
  if (st != MG_OK) return st;
  if (dirs->count > 1) qsort(dirs->items, (size_t)dirs->count, sizeof *dirs->items, compare_strings);
  if (files->count > 1) qsort(files->items, (size_t)files->count, sizeof *files->items, compare_strings);
  return MG_OK;
}

/* The image files to read, in order, with their labels. */
typedef struct source_list {
  string_list paths;
  int32_t *labels;
  int labels_cap;
} source_list;

/* Files past max_per_class are never opened, so an unknown file among them goes unreported. */
static mg_status add_sources(source_list *s, const char *dir, const string_list *files, int max_per_class,
                             int32_t label, char *err, size_t err_size) {
  int take = max_per_class > 0 && max_per_class < files->count ? max_per_class : files->count;
  char full[FOLDER_PATH_MAX];
  for (int i = 0; i < take; i++) {
    mg_status st = join_path(full, dir, files->items[i], err, err_size);
    if (st != MG_OK) return st;
    if (s->paths.count == s->labels_cap) {
      int cap = s->labels_cap ? 2 * s->labels_cap : 1024;
      int32_t *bigger = realloc(s->labels, (size_t)cap * sizeof *bigger);
      if (!bigger) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, dir, "out of memory listing images");
      s->labels = bigger;
      s->labels_cap = cap;
    }
    s->labels[s->paths.count] = label;
    if (!list_push(&s->paths, full))
      return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, dir, "out of memory listing images");
  }
  return MG_OK;
}

/* Lists the tree: class folders (sorted) and their files, or the files of an unlabelled folder. Fills the
 * sources, the class names and counts (left empty when unlabelled). */
static mg_status list_tree(const char *path, int max_per_class, source_list *sources, string_list *classes,
                           int **class_counts, char *err, size_t err_size) {
  string_list dirs = {0}, files = {0}, sub_dirs = {0}, class_files = {0};
  mg_status st = list_folder(path, &dirs, &files, err, err_size);
  if (st != MG_OK) goto done;
  if (dirs.count > 0 && files.count > 0) {
    st = mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                       "holds both class folders (\"%s\") and image files (\"%s\"): put every image in a class "
                       "folder, or every image directly in the folder for an unlabelled data set",
                       dirs.items[0], files.items[0]);
    goto done;
  }
  if (dirs.count == 0) {
    if (files.count == 0)
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "no images: the folder is empty (hidden and text "
                         "files do not count)");
    else
      st = add_sources(sources, path, &files, max_per_class, 0, err, err_size);
    goto done;
  }
  if ((unsigned)dirs.count > MG_MAX_CLASSES) { /* unsigned: tells the compiler count >= 0 too */
    st = mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "has %d class folders, more than MedGen's %d classes",
                       dirs.count, MG_MAX_CLASSES);
    goto done;
  }
  *class_counts = calloc((size_t)dirs.count, sizeof **class_counts);
  if (!*class_counts) {
    st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory listing classes");
    goto done;
  }
  char class_path[FOLDER_PATH_MAX];
  for (int c = 0; c < dirs.count; c++) {
    st = join_path(class_path, path, dirs.items[c], err, err_size);
    if (st != MG_OK) goto done;
    st = list_folder(class_path, &sub_dirs, &class_files, err, err_size);
    if (st != MG_OK) goto done;
    if (sub_dirs.count > 0) {
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, class_path,
                         "holds a folder (\"%s\"): class folders must hold image files only, one level below %s",
                         sub_dirs.items[0], path);
      goto done;
    }
    if (class_files.count == 0) {
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, class_path, "class \"%s\" holds no images", dirs.items[c]);
      goto done;
    }
    int before = sources->paths.count;
    st = add_sources(sources, class_path, &class_files, max_per_class, c, err, err_size);
    if (st != MG_OK) goto done;
    (*class_counts)[c] = sources->paths.count - before;
    list_free(&sub_dirs);
    list_free(&class_files);
  }
  *classes = dirs; /* the class names, already sorted */
  dirs = (string_list){0};
done:
  list_free(&dirs);
  list_free(&files);
  list_free(&sub_dirs);
  list_free(&class_files);
  return st;
}

mg_status mg_image_read_fallback(const char *path, mg_image_reader fallback, mg_image_f *out, char *err,
                                 size_t err_size) {
  mg_image_kind kind;
  mg_status st = mg_image_read_kind(path, out, &kind, err, err_size);
  if (st == MG_ERR_FORMAT && kind == MG_IMAGE_UNKNOWN && fallback) st = fallback(path, out, err, err_size);
  return st;
}

/* Reads image i into its slot of images, widening [*lo, *hi] to its pixel range. */
static mg_status read_one(const char *file, mg_image_reader fallback, int size, float *slot, float *lo, float *hi,
                          bool *is_float, char *err, size_t err_size) {
  mg_image_f img;
  mg_status st = mg_image_read_fallback(file, fallback, &img, err, err_size);
  if (st != MG_OK) return st;
  const int64_t n = (int64_t)img.width * img.height;
  for (int64_t p = 0; p < n; p++) {
    *lo = img.pixels[p] < *lo ? img.pixels[p] : *lo;
    *hi = img.pixels[p] > *hi ? img.pixels[p] : *hi;
  }
  *is_float = !img.eight_bit;
  mg_image_resize_area(img.pixels, img.width, img.height, size, slot);
  mg_image_f_free(&img);
  return MG_OK;
}

/* Reads, resizes and scales every source into images (count * size * size floats, malloc'ed here). *size 0
 * takes the first image's size, so the first image is read alone; the rest are read in parallel, each into its
 * own slot, so the result does not depend on the thread count. On failures the lowest-numbered file is
 * reported, as a serial read would. */
static mg_status read_images(const char *path, const mg_image_folder_files *files, mg_image_reader fallback,
                             int *size, float **images, double *offset, double *scale, char *err, size_t err_size) {
  const int count = files->count;
  const char *first = files->paths[0];
  mg_image_f img;
  mg_status st = mg_image_read_fallback(first, fallback, &img, err, err_size);
  if (st != MG_OK) return st;
  const int width = img.width, height = img.height;
  mg_image_f_free(&img);
  if (*size == 0 && width != height)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path,
                         "the first image (%s) is %dx%d, not square: give a size (--size N) to resize every image "
                         "to N x N", first, width, height);
  if (*size == 0) *size = width;
  if (*size > FOLDER_MAX_SIZE)
    return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, first, "%dx%d pixels: images larger than %d on a side "
                         "need a size (--size N) to shrink them to", width, height, FOLDER_MAX_SIZE);
  const size_t pixels = (size_t)*size * (size_t)*size;
  *images = malloc((size_t)count * pixels * sizeof **images);
  if (!*images)
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for %d images of %dx%d", count,
                         *size, *size);

  float lo = INFINITY, hi = -INFINITY;
  bool any_float = false;
  int failed = count; /* the lowest-numbered file that failed so far */
  st = MG_OK;
#pragma omp parallel for schedule(dynamic, 16) reduction(min : lo) reduction(max : hi) reduction(|| : any_float)
  for (int i = 0; i < count; i++) {
    int failed_so_far;
#pragma omp atomic read
    failed_so_far = failed;
    if (i > failed_so_far) continue; /* a lower-numbered failure is reported anyway */
    char message[1024] = "";
    bool is_float = false;
    mg_status one = read_one(files->paths[i], fallback, *size, *images + (size_t)i * pixels, &lo, &hi, &is_float,
                             message, sizeof message);
    any_float = any_float || is_float;
    if (one != MG_OK) {
#pragma omp critical(mg_image_folder_failure)
      if (i < failed) {
#pragma omp atomic write
        failed = i;
        st = one;
        if (err && err_size) snprintf(err, err_size, "%s", message);
      }
    }
  }
  if (st != MG_OK) return st;

  /* 8-bit samples have a fixed range; any other data is scaled by what the folder actually holds. */
  if (any_float) {
    if (hi == lo)
      return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "every pixel of every image is %g: constant "
                           "images cannot be scaled to [-1, 1]", (double)lo);
    *offset = 0.5 * ((double)hi + (double)lo);
    *scale = 0.5 * ((double)hi - (double)lo);
  } else {
    *offset = 127.5;
    *scale = 127.5;
  }
  const size_t n = (size_t)count * pixels;
  const float off = (float)*offset, div = (float)*scale;
  for (size_t i = 0; i < n; i++) {
    const float v = ((*images)[i] - off) / div; /* exact for 8-bit data; float extremes may round just past 1 */
    (*images)[i] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
  }
  return MG_OK;
}

mg_status mg_image_folder_list(const char *path, int max_per_class, mg_image_folder_files *out, char *err,
                               size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output given");
  memset(out, 0, sizeof *out);
  if (!path) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no folder given");
  if (max_per_class < 0)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "images per class %d (must be >= 0)",
                         max_per_class);
  source_list sources = {{0}, NULL, 0};
  string_list classes = {0};
  int *class_counts = NULL;
  mg_status st = list_tree(path, max_per_class, &sources, &classes, &class_counts, err, err_size);
  if (st != MG_OK) {
    list_free(&sources.paths);
    free(sources.labels);
    list_free(&classes);
    free(class_counts);
    return st;
  }
  const bool labelled = classes.count > 0;
  out->count = sources.paths.count;
  out->paths = sources.paths.items;
  out->labels = labelled ? sources.labels : NULL;
  if (!labelled) free(sources.labels);
  out->num_classes = classes.count;
  out->class_names = classes.items;
  out->class_counts = class_counts;
  return MG_OK;
}

void mg_image_folder_files_free(mg_image_folder_files *f) {
  if (!f) return;
  for (int i = 0; i < f->count; i++) free(f->paths[i]);
  free(f->paths);
  free(f->labels);
  for (int i = 0; i < f->num_classes; i++) free(f->class_names[i]);
  free(f->class_names);
  free(f->class_counts);
  memset(f, 0, sizeof *f);
}

mg_status mg_image_folder_read(const char *path, int size, int max_per_class, mg_image_reader fallback,
                               mg_image_folder *out, char *err, size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output given");
  memset(out, 0, sizeof *out);
  if (size < 0 || size > FOLDER_MAX_SIZE)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "size %d out of range (must be 0..%d)", size,
                         FOLDER_MAX_SIZE);
  mg_image_folder_files files;
  float *images = NULL;
  double offset = 0.0, scale = 1.0;
  mg_status st = mg_image_folder_list(path, max_per_class, &files, err, err_size);
  if (st != MG_OK) return st;
  st = read_images(path, &files, fallback, &size, &images, &offset, &scale, err, err_size);
  if (st != MG_OK) {
    mg_image_folder_files_free(&files);
    free(images);
    return st;
  }
  out->images = images;
  out->labels = files.labels;
  out->class_names = files.class_names;
  out->class_counts = files.class_counts;
  out->data = (mg_dataset){.count = files.count,
                           .channels = 1,
                           .size = size,
                           .images = images,
                           .labels = files.labels,
                           .num_classes = files.num_classes,
                           .class_names = (const char *const *)files.class_names,
                           .norm_offset = offset,
                           .norm_scale = scale};
  for (int i = 0; i < files.count; i++) free(files.paths[i]);
  free(files.paths);
  return MG_OK;
}

void mg_image_folder_free(mg_image_folder *f) {
  if (!f) return;
  free(f->images);
  free(f->labels);
  for (int i = 0; i < f->data.num_classes; i++) free(f->class_names[i]);
  free(f->class_names);
  free(f->class_counts);
  memset(f, 0, sizeof *f);
}

mg_status mg_image_folder_match(mg_image_folder *f, const char *path, const mg_dataset *ref, char *err,
                                size_t err_size) {
  mg_dataset *d = &f->data;
  if (!f->labels) return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "no class folders: the images must sit in "
                                       "one folder per class, as in the training data");
  int to_ref[MG_MAX_CLASSES];
  for (int k = 0; k < d->num_classes; k++) {
    to_ref[k] = -1;
    for (int j = 0; j < ref->num_classes && ref->class_names; j++)
      if (!strcmp(f->class_names[k], ref->class_names[j])) to_ref[k] = j;
    if (to_ref[k] < 0)
      return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "class folder '%s' is not one of the training classes",
                           f->class_names[k]);
  }
  for (int i = 0; i < d->count; i++) f->labels[i] = to_ref[f->labels[i]];
  const size_t n = (size_t)d->count * d->channels * d->size * d->size;
  const double a = d->norm_scale / ref->norm_scale, b = (d->norm_offset - ref->norm_offset) / ref->norm_scale;
  for (size_t i = 0; i < n; i++) f->images[i] = (float)(f->images[i] * a + b);
  d->norm_offset = ref->norm_offset;
  d->norm_scale = ref->norm_scale;
  return MG_OK;
}
