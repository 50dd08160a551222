/* mg_augment_math.h: one image's augmentation parameters as the augment kernels read them, shared by the CPU and
 * CUDA kernels (MG_HD) so both move and cut out exactly the same pixels. */
#ifndef MG_AUGMENT_MATH_H
#define MG_AUGMENT_MATH_H

#include "mg_kernels.h"

#include <math.h>

/* One image's parameters, with shifts clamped to [-size, size] and corners to [0, size]: values beyond the image
 * act like its edge, and the clamp keeps the conversion defined for any input (NaN included). */
typedef struct mg_augment_image {
  double brightness, contrast;
  int shift_x, shift_y, x0, y0, x1, y1;
} mg_augment_image;

static inline MG_HD int mg_augment_whole(mg_real value, int lo, int hi) {
  const double v = floor((double)value + 0.5);
  if (!(v >= lo)) return lo;
  return v > hi ? hi : (int)v;
}

/* p: the image's MG_AUGMENT_PARAMS values */
static inline MG_HD mg_augment_image mg_augment_image_params(const mg_real *p, int h, int w) {
  mg_augment_image a;
  a.brightness = p[MG_AUGMENT_BRIGHTNESS];
  a.contrast = p[MG_AUGMENT_CONTRAST];
  a.shift_x = mg_augment_whole(p[MG_AUGMENT_SHIFT_X], -w, w);
  a.shift_y = mg_augment_whole(p[MG_AUGMENT_SHIFT_Y], -h, h);
  a.x0 = mg_augment_whole(p[MG_AUGMENT_CUT_X0], 0, w);
  a.y0 = mg_augment_whole(p[MG_AUGMENT_CUT_Y0], 0, h);
  a.x1 = mg_augment_whole(p[MG_AUGMENT_CUT_X1], 0, w);
  a.y1 = mg_augment_whole(p[MG_AUGMENT_CUT_Y1], 0, h);
  return a;
}

/* Whether output pixel (row, col) takes a value from the input: its source (row - shift_y, col - shift_x) lies
 * inside the image and it is outside the cutout. */
static inline MG_HD int mg_augment_kept(const mg_augment_image *a, int h, int w, int row, int col) {
  const int src_row = row - a->shift_y, src_col = col - a->shift_x;
  if (src_row < 0 || src_row >= h || src_col < 0 || src_col >= w) return 0;
  return !(col >= a->x0 && col < a->x1 && row >= a->y0 && row < a->y1);
}

#endif
