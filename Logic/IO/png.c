/* png.c: 8-bit grayscale PNG writing (atomic, with MedGen's synthetic-image marker), grids of float images, and
 * reading (any PNG converted to 8-bit gray), through libpng. libpng reports errors by longjmp; each call keeps its
 * setjmp and its cleanup in one function so every path frees what it allocated. */
#include "mg_io_internal.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

enum { PNG_MAX_SIDE = 16384 };

/* libpng's error callback: keep the message for our own report, then unwind to the caller's setjmp. */
typedef struct png_failure {
  char message[256];
} png_failure;

static void on_png_error(png_structp png, png_const_charp msg) {
  png_failure *f = png_get_error_ptr(png);
  snprintf(f->message, sizeof f->message, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}
static void on_png_warning(png_structp png, png_const_charp msg) {
  (void)png; /* warnings (e.g. a bad ancillary chunk) do not stop us; the caller gets the image */
  (void)msg;
}

mg_status mg_png_write(const char *path, const uint8_t *pixels, int width, int height, bool synthetic, char *err,
                       size_t err_size) {
  if (!path || !pixels || width < 1 || height < 1 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "invalid image (%dx%d, pixels %s)", width, height,
                      pixels ? "given" : "missing");
  mg_atomic_file *af = NULL;
  mg_status st = mg_atomic_file_open(path, &af, err, err_size);
  if (st != MG_OK) return st;

  png_failure failure = {""};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    mg_atomic_file_abort(af);
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory in libpng");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    mg_atomic_file_abort(af);
    return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot write PNG (%s)", failure.message);
  }
  png_init_io(png, mg_atomic_file_stream(af));
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  /* tEXt chunks go before the image data so that viewers and `identify -verbose` show them. */
  png_text text[2];
  memset(text, 0, sizeof text);
  text[0].compression = PNG_TEXT_COMPRESSION_NONE;
  text[0].key = "Software";
  text[0].text = "MedGen " MEDGEN_VERSION_STRING;
  text[1].compression = PNG_TEXT_COMPRESSION_NONE;
  text[1].key = "Comment";
  text[1].text = MG_PNG_SYNTHETIC_TEXT;
  png_set_text(png, info, text, synthetic ? 2 : 1);
  png_write_info(png, info);
  for (int y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * (size_t)width);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return mg_atomic_file_commit(af, err, err_size);
}

/* True when the file's text chunks carry the synthetic-image marker. */
static bool has_synthetic_marker(png_structp png, png_infop info) {
  png_textp text = NULL;
  int n = png_get_text(png, info, &text, NULL);
  for (int i = 0; i < n; i++)
    if (text[i].text && strstr(text[i].text, MG_PNG_SYNTHETIC_TEXT)) return true;
  return false;
}

mg_status mg_png_read(const char *path, mg_image *out, char *err, size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output image given");
  memset(out, 0, sizeof *out);
  if (!path) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no file name given");
  FILE *f = fopen(path, "rb");
  if (!f) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the file");
  mg_status st = mg_png_read_stream(f, path, out, err, err_size);
  fclose(f);
  return st;
}

mg_status mg_png_read_stream(FILE *f, const char *path, mg_image *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  unsigned char signature[8];
  if (fread(signature, 1, 8, f) != 8 || png_sig_cmp(signature, 0, 8) != 0)
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "not a PNG file (bad signature)");

  png_failure failure = {""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory in libpng");
  }
  /* Written after setjmp and read after a longjmp: must be volatile. */
  uint8_t *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "corrupt PNG (%s)", failure.message);
  }
  png_init_io(png, f);
  png_set_sig_bytes(png, 8);
  png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
  png_read_info(png, info);
  int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  /* Everything to 8-bit gray: palettes and low bit depths expand, 16 bits strip, alpha goes, colour converts. */
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_PALETTE || (color & PNG_COLOR_MASK_COLOR))
    png_set_rgb_to_gray_fixed(png, 1, 21260, 71520); /* Rec. 709 luma, in units of 1e-5 */
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 1 || png_get_bit_depth(png, info) != 8)
    png_error(png, "cannot convert this PNG to 8-bit gray");

  int width = (int)png_get_image_width(png, info), height = (int)png_get_image_height(png, info);
  pixels = malloc((size_t)width * (size_t)height);
  rows = malloc((size_t)height * sizeof *rows);
  if (!pixels || !rows) png_error(png, "out of memory for the pixels");
  for (int y = 0; y < height; y++) rows[y] = pixels + (size_t)y * (size_t)width;
  png_read_image(png, rows);
  png_read_end(png, info); /* text chunks after the image data count too */
  out->synthetic = has_synthetic_marker(png, info);
  out->width = width;
  out->height = height;
  out->pixels = pixels;
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  return MG_OK;
}

void mg_image_free(mg_image *img) {
  if (!img) return;
  free(img->pixels);
  memset(img, 0, sizeof *img);
}

/* Columns are capped at count, so a few images do not sit in a wide black strip. */
mg_status mg_png_write_grid(const char *path, const float *images, int count, int size, int columns, double lo,
                            double hi, bool synthetic, char *err, size_t err_size) {
  enum { GAP = 2 };
  if (!images || count < 1 || size < 1 || size > PNG_MAX_SIDE || columns < 1 || !isfinite(lo) || !isfinite(hi) ||
      hi <= lo)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path,
                         "invalid grid (%d images of %dx%d, %d columns, range [%g, %g], images %s)", count, size, size,
                         columns, lo, hi, images ? "given" : "missing");
  if (columns > count) columns = count;
  const int rows = (count + columns - 1) / columns;
  const int64_t width = (int64_t)columns * (size + GAP) - GAP, height = (int64_t)rows * (size + GAP) - GAP;
  if (width > PNG_MAX_SIDE || height > PNG_MAX_SIDE)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path,
                         "a grid of %d images of %dx%d in %d columns would be %lldx%lld pixels, more than %d on a side",
                         count, size, size, columns, (long long)width, (long long)height, PNG_MAX_SIDE);
  uint8_t *pixels = calloc((size_t)width * (size_t)height, 1); /* zero: the black gaps */
  if (!pixels)
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for a %lldx%lld grid",
                         (long long)width, (long long)height);
  const double to_byte = 255.0 / (hi - lo);
  for (int i = 0; i < count; i++) {
    const float *img = images + (size_t)i * (size_t)size * (size_t)size;
    uint8_t *tile =
        pixels + (size_t)(i / columns) * (size + GAP) * (size_t)width + (size_t)(i % columns) * (size + GAP);
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++) {
        double v = ((double)img[y * size + x] - lo) * to_byte;
        tile[(size_t)y * (size_t)width + x] = v > 0.0 ? (uint8_t)(v < 255.0 ? v + 0.5 : 255.0) : 0; /* NaN: 0 */
      }
  }
  mg_status st = mg_png_write(path, pixels, (int)width, (int)height, synthetic, err, err_size);
  free(pixels);
  return st;
}
