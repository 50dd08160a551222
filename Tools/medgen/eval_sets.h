/* eval_sets.h: the image sets `medgen eval` compares. A set is a folder of 2D images (class subfolders give labels;
 * in a flat folder, MedGen's sample names sample-NNNN-<class>.png give them) or a stack file as `medgen sample`
 * writes it (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, with FILE.csv beside it naming each slice's class). Every
 * image is area-resized to one size; values stay in the files' units until eval_set_map puts them on [-1, 1]. */
#ifndef MEDGEN_EVAL_SETS_H
#define MEDGEN_EVAL_SETS_H

#include "medgen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eval_set {
  const char *path;   /* as given */
  bool is_stack;      /* one stack file rather than a folder */
  int found;          /* images in the set */
  int count;          /* images kept (at most max_images, evenly spaced over the sorted files or slices) */
  int size;           /* images are size x size */
  float *images;      /* count * size * size values: the files' units, then [-1, 1] after eval_set_map */
  char **names;       /* count: the image's file, or "<stack>#<slice>" */
  int32_t *labels;    /* count indices into class_names, -1 for none; NULL when no image has a class */
  char **class_names; /* num_classes names, sorted */
  int num_classes;
  int files, marked;  /* files read, and how many carry MedGen's synthetic marker */
  bool eight_bit;     /* every file has unsigned 8-bit samples (PNG, JPEG, ...) */
  double lo, hi;      /* the smallest and largest value read (files' units) */
} eval_set;

/* Reads path into out: at most max_images images, each resized to size x size (size 0: the first image's width).
 * Failures name the file and the problem (a missing or empty folder, an unreadable image, a class list that does
 * not fit its stack). */
mg_status eval_set_read(const char *path, int size, int max_images, eval_set *out, char *err, size_t err_size);

/* The intensity mapping a set defines, original = value * scale + offset for values in [-1, 1]: 0..255 when every
 * file is 8-bit, else the set's smallest to largest value. Every set is mapped with the real set's. */
void eval_set_normalization(const eval_set *s, double *offset, double *scale);
/* Maps the set's values to (value - offset) / scale. */
void eval_set_map(eval_set *s, double offset, double scale);

/* The index of name among the set's classes, -1 when absent. */
int eval_set_class_index(const eval_set *s, const char *name);

void eval_set_free(eval_set *s);

#endif
