/* image.c: any 2D image the readers know, as float pixels: PNG and JPEG chosen by their signatures (a file's
 * name may lie), NIfTI by its extension (its header has no signature at offset 0, and a .nii.gz is gzip data),
 * and exact area-weighted resampling to a square. */
#include "mg_io_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* What image.c needs from a NIfTI header beyond mg_nifti_read's voxels. */
typedef struct nifti_facts {
  bool synthetic; /* descrip or intent_name carries MedGen's synthetic marker */
  bool rows_up;   /* storage rows run toward +y (anterior/superior in RAS) */
} nifti_facts;

/* Header fields in the file's byte order, whatever the host's. */
static int header_i16(const unsigned char *h, int off, bool little) {
  return (int16_t)(little ? h[off] | h[off + 1] << 8 : h[off + 1] | h[off] << 8);
}
static float header_f32(const unsigned char *h, int off, bool little) {
  uint32_t bits = 0;
  for (int i = 0; i < 4; i++) bits |= (uint32_t)h[off + (little ? i : 3 - i)] << 8 * i;
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

/* The reader has already validated the file, so a failure here only means "no marker, rows up". The row axis's
 * y and z components come from the sform, else the qform's rotation, else (no orientation) the identity. */
static nifti_facts nifti_header_facts(const char *path) {
  nifti_facts f = {false, true};
  unsigned char h[348];
  gzFile gz = gzopen(path, "rb");
  if (!gz) return f;
  bool whole = gzread(gz, h, sizeof h) == (int)sizeof h;
  gzclose(gz);
  if (!whole) return f;
  char descrip[81] = "", intent[17] = "";
  memcpy(descrip, h + 148, 80);
  memcpy(intent, h + 328, 16);
  f.synthetic = strstr(descrip, MG_NIFTI_SYNTHETIC_DESCRIP) || strcmp(intent, MG_NIFTI_SYNTHETIC_INTENT) == 0;
  const bool little = h[0] == 0x5c; /* sizeof_hdr 348 = 0x0000015c */
  double y = 1, z = 0; /* the row axis's anterior and superior components */
  if (header_i16(h, 254, little) > 0) { /* sform_code */
    y = header_f32(h, 300, little);     /* srow_y[1] */
    z = header_f32(h, 316, little);     /* srow_z[1] */
  } else if (header_i16(h, 252, little) > 0) { /* qform_code */
    const double b = header_f32(h, 256, little), c = header_f32(h, 260, little), d = header_f32(h, 264, little);
    const double a = sqrt(fmax(0.0, 1.0 - b * b - c * c - d * d));
    y = a * a - b * b + c * c - d * d; /* R[1][1] */
    z = 2 * (c * d + a * b);           /* R[2][1] */
  }
  /* up is anterior for an axial slice, superior for a coronal or sagittal one: the larger component decides */
  f.rows_up = fabs(y) >= fabs(z) ? y > 0 : z > 0;
  return f;
}

static mg_status from_bytes(mg_image *img, mg_image_f *out, const char *path, char *err, size_t err_size) {
  size_t n = (size_t)img->width * (size_t)img->height;
  out->pixels = malloc(n * sizeof *out->pixels);
  if (!out->pixels) {
    mg_image_free(img);
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for %dx%d pixels", img->width,
                         img->height);
  }
  for (size_t i = 0; i < n; i++) out->pixels[i] = img->pixels[i];
  out->width = img->width;
  out->height = img->height;
  out->synthetic = img->synthetic;
  out->eight_bit = true;
  mg_image_free(img);
  return MG_OK;
}

mg_status mg_image_read_kind(const char *path, mg_image_f *out, mg_image_kind *kind, char *err, size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output image given");
  memset(out, 0, sizeof *out);
  *kind = MG_IMAGE_UNKNOWN;
  if (!path) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no file name given");
  FILE *f = fopen(path, "rb");
  if (!f) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the file");
  unsigned char magic[8] = {0};
  size_t got = fread(magic, 1, sizeof magic, f);
  rewind(f);

  static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool png = got == 8 && memcmp(magic, png_magic, 8) == 0;
  const bool jpeg = got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff;
  mg_status st;
  if (png || jpeg) {
    *kind = png ? MG_IMAGE_PNG : MG_IMAGE_JPEG;
    mg_image img;
    st = png ? mg_png_read_stream(f, path, &img, err, err_size) : mg_jpeg_read_stream(f, path, &img, err, err_size);
    fclose(f);
    return st == MG_OK ? from_bytes(&img, out, path, err, err_size) : st;
  }
  fclose(f);
  if (ends_with(path, ".nii") || ends_with(path, ".nii.gz")) {
    *kind = MG_IMAGE_NIFTI;
    mg_volume v;
    st = mg_nifti_read(path, &v, err, err_size);
    if (st != MG_OK) return st;
    if (v.dim[2] != 1) {
      st = mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path,
                         "not a 2D image: a %dx%dx%d volume (an image folder needs one slice per file)", v.dim[0],
                         v.dim[1], v.dim[2]);
      mg_volume_free(&v);
      return st;
    }
    /* The top row of the image is the highest y (anterior/superior): rows that run toward +y are reversed;
     * rows that run toward -y (ITK's LPS identity, as `medgen sample` writes) are already in that order. Columns
     * keep their storage order either way, so that an image written by MedGen reads back as it was generated. */
    const nifti_facts facts = nifti_header_facts(path);
    for (int y = 0; facts.rows_up && y < v.dim[1] / 2; y++)
      for (int x = 0; x < v.dim[0]; x++) {
        float *a = v.data + (size_t)y * v.dim[0] + x, *b = v.data + (size_t)(v.dim[1] - 1 - y) * v.dim[0] + x;
        float t = *a;
        *a = *b;
        *b = t;
      }
    out->width = v.dim[0];
    out->height = v.dim[1];
    out->pixels = v.data;
    out->synthetic = facts.synthetic;
    return MG_OK;
  }
  return mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                       "unknown image format (not a PNG or JPEG, and not named .nii or .nii.gz)");
}

mg_status mg_image_read(const char *path, mg_image_f *out, char *err, size_t err_size) {
  mg_image_kind kind;
  return mg_image_read_kind(path, out, &kind, err, err_size);
}

void mg_image_f_free(mg_image_f *img) {
  if (!img) return;
  free(img->pixels);
  memset(img, 0, sizeof *img);
}

/* Along one axis, source pixel s covers [s*size, (s+1)*size) and output pixel o covers [o*n, (o+1)*n) in units
 * of 1/(n*size) of the image: integers, so the overlaps (the weights, over n) are exact for any ratio.
 * Downsampling averages every source pixel under an output pixel, partial ones by the fraction covered.
 * Upsampling is a box (nearest-neighbour) magnification: an output pixel inside one source pixel copies it, and
 * one that straddles two mixes them by area; nothing is interpolated beyond that, so edges stay sharp. */
void mg_image_resize_area(const float *src, int width, int height, int size, float *out) {
  if (width == size && height == size) {
    memcpy(out, src, (size_t)size * (size_t)size * sizeof *out);
    return;
  }
  if (width % size == 0 && height % size == 0) { /* whole blocks, all weights equal: the common case, 4x faster */
    const int kx = width / size, ky = height / size;
    for (int oy = 0; oy < size; oy++)
      for (int ox = 0; ox < size; ox++) {
        double sum = 0.0;
        for (int y = oy * ky; y < (oy + 1) * ky; y++)
          for (int x = ox * kx; x < (ox + 1) * kx; x++) sum += src[(int64_t)y * width + x];
        out[(int64_t)oy * size + ox] = (float)(sum / ((double)kx * ky));
      }
    return;
  }
  const double total = (double)width * (double)height;
  int64_t first_sy = 0; /* the first source row under output row oy: advances monotonically, no division */
  for (int oy = 0; oy < size; oy++) {
    const int64_t y0 = (int64_t)oy * height, y1 = y0 + height;
    while ((first_sy + 1) * size <= y0) first_sy++;
    int64_t first_sx = 0;
    for (int ox = 0; ox < size; ox++) {
      const int64_t x0 = (int64_t)ox * width, x1 = x0 + width;
      while ((first_sx + 1) * size <= x0) first_sx++;
      double sum = 0.0;
      for (int64_t sy = first_sy; sy * size < y1; sy++) {
        const int64_t wy = (y1 < (sy + 1) * size ? y1 : (sy + 1) * size) - (y0 > sy * size ? y0 : sy * size);
        const float *row = src + sy * width;
        double row_sum = 0.0;
        for (int64_t sx = first_sx; sx * size < x1; sx++) {
          const int64_t wx = (x1 < (sx + 1) * size ? x1 : (sx + 1) * size) - (x0 > sx * size ? x0 : sx * size);
          row_sum += (double)wx * row[sx];
        }
        sum += (double)wy * row_sum;
      }
      out[(int64_t)oy * size + ox] = (float)(sum / total);
    }
  }
}
