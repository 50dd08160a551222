/* eval_sets.c: reading the image sets `medgen eval` compares (eval_sets.h).
 *
 * Folders are listed by mg_image_folder_list (the rules of training folders) but read here, because eval needs what
 * mg_image_folder_read does not keep: each file's name (for the nearest-neighbour pairs), its synthetic marker, its
 * values in the file's units (every set is mapped with the real set's intensity mapping, not its own), and only
 * --max-images files opened out of many. */
#include "eval_sets.h"

#include "cli_util.h"

#include "mg_io.h"
#include "mg_itk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { PATH_MAX_LEN = 4096 };

typedef struct name_list {
  char **items;
  int count, cap;
} name_list;

static bool name_list_push(name_list *l, const char *s) {
  if (l->count == l->cap) {
    int cap = l->cap ? 2 * l->cap : 256;
    char **bigger = realloc(l->items, (size_t)cap * sizeof *bigger);
    if (!bigger) return false;
    l->items = bigger;
    l->cap = cap;
  }
  char *copy = s ? strdup(s) : NULL;
  if (s && !copy) return false;
  l->items[l->count++] = copy;
  return true;
}

static void name_list_free(name_list *l) {
  for (int i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  *l = (name_list){0};
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The class in a name `medgen sample` gives its PNGs, sample-NNNN-<class>.png, into cls; false for other names. */
static bool sample_name_class(const char *name, char *cls, size_t cls_size) {
  if (strncmp(name, "sample-", 7) != 0) return false;
  const char *p = name + 7, *digits = p;
  while (*p >= '0' && *p <= '9') p++;
  const char *dot = strrchr(name, '.');
  if (p == digits || *p != '-' || !dot || dot <= p + 1 || (size_t)(dot - p - 1) >= cls_size) return false;
  snprintf(cls, cls_size, "%.*s", (int)(dot - p - 1), p + 1);
  return true;
}

/* Which of found images to keep: count evenly spaced indices. */
static int kept_index(int i, int count, int found) { return (int)((int64_t)i * found / count); }

static mg_status allocate(eval_set *s, int count, int size, char *err, size_t err_size) {
  s->count = count;
  s->size = size;
  s->images = malloc((size_t)count * size * size * sizeof *s->images);
  s->names = calloc((size_t)count, sizeof *s->names);
  if (!s->images || !s->names)
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory for %d images of %dx%d", count,
                         size, size);
  return MG_OK;
}

/* Resizes one image into slot i and widens the set's value range. */
static void store_image(eval_set *s, int i, const float *pixels, int width, int height) {
  float *slot = s->images + (size_t)i * s->size * s->size;
  mg_image_resize_area(pixels, width, height, s->size, slot);
  for (int64_t k = 0; k < (int64_t)width * height; k++) {
    if (pixels[k] < s->lo) s->lo = pixels[k];
    if (pixels[k] > s->hi) s->hi = pixels[k];
  }
}

/* Labels from each kept image's class name (NULL: none): the sorted distinct names become the classes. */
static mg_status assign_labels(eval_set *s, char *const *image_classes, char *err, size_t err_size) {
  name_list names = {0};
  for (int i = 0; i < s->count; i++) {
    bool seen = image_classes[i] == NULL;
    for (int c = 0; c < names.count && !seen; c++) seen = !strcmp(names.items[c], image_classes[i]);
    if (!seen && !name_list_push(&names, image_classes[i])) {
      name_list_free(&names);
      return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory for class names");
    }
  }
  if (names.count == 0) return MG_OK;
  qsort(names.items, (size_t)names.count, sizeof *names.items, compare_names);
  s->class_names = names.items;
  s->num_classes = names.count;
  s->labels = malloc((size_t)s->count * sizeof *s->labels);
  if (!s->labels) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory for labels");
  for (int i = 0; i < s->count; i++)
    s->labels[i] = image_classes[i] ? eval_set_class_index(s, image_classes[i]) : -1;
  return MG_OK;
}

/* A folder as mg_image_folder_read lists it (files of a kind MedGen's readers do not know go to ITK's), but read
 * here: only the --max-images files kept are opened, and each keeps its name, its synthetic marker and its values
 * in the file's units. In a flat folder, `medgen sample`'s names give the classes. */
static mg_status read_folder(eval_set *s, int size, int max_images, char *err, size_t err_size) {
  mg_image_folder_files files;
  char **kept_classes = NULL;
  char cls[256];
  name_list named = {0}; /* classes from sample names, for a flat folder */
  mg_status st = mg_image_folder_list(s->path, 0, &files, err, err_size);
  if (st != MG_OK) return st;
  s->found = files.count;
  int count = files.count < max_images ? files.count : max_images;
  kept_classes = calloc((size_t)count, sizeof *kept_classes);
  if (!kept_classes) st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
  s->eight_bit = true;
  for (int i = 0; st == MG_OK && i < count; i++) {
    const int k = kept_index(i, count, files.count);
    mg_image_f img;
    st = mg_image_read_fallback(files.paths[k], mg_itk_image_read, &img, err, err_size);
    if (st != MG_OK) break;
    if (i == 0) st = allocate(s, count, size > 0 ? size : img.width, err, err_size);
    if (st == MG_OK) {
      store_image(s, i, img.pixels, img.width, img.height);
      s->files++;
      s->marked += img.synthetic;
      s->eight_bit &= img.eight_bit;
      if (files.labels) {
        kept_classes[i] = files.class_names[files.labels[k]];
      } else {
        const char *base = strrchr(files.paths[k], '/');
        bool has_class = sample_name_class(base ? base + 1 : files.paths[k], cls, sizeof cls);
        if (!name_list_push(&named, has_class ? cls : NULL))
          st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
        else
          kept_classes[i] = named.items[named.count - 1];
      }
      if (st == MG_OK && !(s->names[i] = strdup(files.paths[k])))
        st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
    }
    mg_image_f_free(&img);
  }
  if (st == MG_OK) st = assign_labels(s, kept_classes, err, err_size);
  free(kept_classes);
  name_list_free(&named);
  mg_image_folder_files_free(&files);
  return st;
}


/* Each slice's class from the list beside the stack ("slice,class" lines; "none": no class) into classes (count
 * entries, NULL for none). No list: every slice unlabelled. */
static mg_status read_class_list(const char *stack, int count, name_list *classes, char *err, size_t err_size) {
  char path[PATH_MAX_LEN], line[512];
  cli_class_list_path(stack, path, sizeof path);
  for (int i = 0; i < count; i++)
    if (!name_list_push(classes, NULL))
      return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? MG_OK : mg_file_error(err, err_size, MG_ERR_IO, path, "cannot read (%s)",
                                                         strerror(errno));
  mg_status st = MG_OK;
  for (int row = 0; st == MG_OK && fgets(line, sizeof line, f); row++) {
    line[strcspn(line, "\r\n")] = 0;
    if (row == 0 || !line[0]) continue; /* the header, "slice,class" */
    char *comma = strchr(line, ',');
    char *end;
    long slice = strtol(line, &end, 10);
    if (!comma || end != comma || slice < 0 || slice >= count)
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "line %d: expected \"slice,class\" with a slice from 0 "
                         "to %d (the stack %s has %d images)", row + 1, count - 1, stack, count);
    else if (strcmp(comma + 1, "none") != 0 && !(classes->items[slice] = strdup(comma + 1)))
      st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  }
  fclose(f);
  return st;
}

static mg_status read_stack(eval_set *s, int size, int max_images, char *err, size_t err_size) {
  float *voxels = NULL;
  int width, height, found;
  bool synthetic;
  name_list classes = {0};
  char **kept_classes = NULL;
  mg_status st = mg_itk_stack_read(s->path, &voxels, &width, &height, &found, &synthetic, err, err_size);
  if (st == MG_OK) st = read_class_list(s->path, found, &classes, err, err_size);
  if (st != MG_OK) goto done;
  s->found = found;
  s->files = 1;
  s->marked = synthetic;
  int count = found < max_images ? found : max_images;
  kept_classes = calloc((size_t)count, sizeof *kept_classes);
  st = kept_classes ? allocate(s, count, size > 0 ? size : width, err, err_size)
                    : mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
  char name[PATH_MAX_LEN + 16];
  for (int i = 0; st == MG_OK && i < count; i++) {
    const int k = kept_index(i, count, found);
    store_image(s, i, voxels + (size_t)k * width * height, width, height);
    kept_classes[i] = classes.items[k];
    snprintf(name, sizeof name, "%s#%d", s->path, k);
    if (!(s->names[i] = strdup(name)))
      st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, s->path, "out of memory");
  }
  if (st == MG_OK) st = assign_labels(s, kept_classes, err, err_size);
done:
  free(kept_classes);
  free(voxels);
  name_list_free(&classes);
  return st;
}

mg_status eval_set_read(const char *path, int size, int max_images, eval_set *out, char *err, size_t err_size) {
  *out = (eval_set){.path = path, .lo = 1e30, .hi = -1e30};
  struct stat sb;
  if (stat(path, &sb) != 0)
    return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open (%s)", strerror(errno));
  mg_itk_format format = mg_itk_format_of(path);
  mg_status st;
  if (S_ISDIR(sb.st_mode)) {
    st = read_folder(out, size, max_images, err, err_size);
  } else if (format == MG_ITK_NIFTI || format == MG_ITK_NRRD || format == MG_ITK_METAIMAGE) {
    out->is_stack = true;
    st = read_stack(out, size, max_images, err, err_size);
  } else {
    st = mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "not a set of images: give a folder of images "
                       "or a stack (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd)");
  }
  if (st != MG_OK) eval_set_free(out);
  return st;
}

void eval_set_normalization(const eval_set *s, double *offset, double *scale) {
  double lo = s->eight_bit ? 0 : s->lo, hi = s->eight_bit ? 255 : s->hi;
  *offset = 0.5 * (lo + hi);
  *scale = hi > lo ? 0.5 * (hi - lo) : 1;
}

void eval_set_map(eval_set *s, double offset, double scale) {
  const int64_t n = (int64_t)s->count * s->size * s->size;
  for (int64_t i = 0; i < n; i++) s->images[i] = (float)((s->images[i] - offset) / scale);
}

int eval_set_class_index(const eval_set *s, const char *name) {
  for (int c = 0; c < s->num_classes; c++)
    if (!strcmp(s->class_names[c], name)) return c;
  return -1;
}

void eval_set_free(eval_set *s) {
  for (int i = 0; s->names && i < s->count; i++) free(s->names[i]);
  for (int c = 0; c < s->num_classes; c++) free(s->class_names[c]);
  free(s->names);
  free(s->class_names);
  free(s->images);
  free(s->labels);
  const char *path = s->path;
  *s = (eval_set){.path = path};
}
