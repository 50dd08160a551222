/* jpeg.c: JPEG reading (baseline and progressive, gray or colour) into 8-bit gray through libjpeg. libjpeg
 * reports errors by calling error_exit, which must not return: ours keeps the message and longjmps back to the
 * reader, so a corrupt file gives a message, never an exit. Warnings that mean pixel data was lost (a truncated
 * file, a broken entropy stream) are errors too: libjpeg would otherwise fill the missing part with gray and
 * hand back an image that looks valid. */
#include "mg_io_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

enum { JPEG_MAX_SIDE = 16384, JPEG_MAX_SCANS = 1000 };

typedef struct jpeg_failure {
  struct jpeg_error_mgr mgr; /* first, so libjpeg's err pointer is also ours */
  jmp_buf jump;
  bool pixels_complete; /* every scanline was decoded: a missing EOI marker then loses nothing */
  char message[JMSG_LENGTH_MAX + 64];
} jpeg_failure;

static void on_jpeg_error(j_common_ptr cinfo) {
  jpeg_failure *f = (jpeg_failure *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, f->message);
  longjmp(f->jump, 1);
}

/* msg_level < 0 is a warning, >= 0 trace output (ignored: nothing here prints). */
static void on_jpeg_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  jpeg_failure *f = (jpeg_failure *)cinfo->err;
  switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
      if (!f->pixels_complete) on_jpeg_error(cinfo);
      break;
    case JWRN_HIT_MARKER: case JWRN_HUFF_BAD_CODE: case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
      on_jpeg_error(cinfo);
      break;
    default: /* e.g. extraneous bytes before a marker or an unknown JFIF revision: the pixels are intact */
      break;
  }
}

/* A progressive file can hold any number of scans, each a pass over the whole image: cap them, so that a tiny
 * hostile file cannot keep the decoder busy for minutes. */
static void on_jpeg_progress(j_common_ptr cinfo) {
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > JPEG_MAX_SCANS) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    snprintf(f->message, sizeof f->message, "more than %d progressive scans", JPEG_MAX_SCANS);
    longjmp(f->jump, 1);
  }
}

/* True when a comment (COM) marker carries MedGen's synthetic-image text. */
static bool has_synthetic_comment(j_decompress_ptr cinfo) {
  size_t len = strlen(MG_PNG_SYNTHETIC_TEXT);
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
    for (size_t i = 0; m->marker == JPEG_COM && i + len <= m->data_length; i++)
      if (memcmp(m->data + i, MG_PNG_SYNTHETIC_TEXT, len) == 0) return true;
  return false;
}

mg_status mg_jpeg_read(const char *path, mg_image *out, char *err, size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output image given");
  memset(out, 0, sizeof *out);
  if (!path) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no file name given");
  FILE *file = fopen(path, "rb");
  if (!file) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the file");
  mg_status st = mg_jpeg_read_stream(file, path, out, err, err_size);
  fclose(file);
  return st;
}

mg_status mg_jpeg_read_stream(FILE *file, const char *path, mg_image *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);

  struct jpeg_decompress_struct cinfo;
  jpeg_failure failure;
  memset(&failure, 0, sizeof failure);
  cinfo.err = jpeg_std_error(&failure.mgr);
  failure.mgr.error_exit = on_jpeg_error;
  failure.mgr.emit_message = on_jpeg_message;
  struct jpeg_progress_mgr progress = {.progress_monitor = on_jpeg_progress};
  /* Written after setjmp and read after a longjmp: must be volatile. */
  uint8_t *volatile pixels = NULL;
  uint8_t *volatile row = NULL;
  if (setjmp(failure.jump)) {
    free(pixels);
    free(row);
    jpeg_destroy_decompress(&cinfo);
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "corrupt JPEG (%s)", failure.message);
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  jpeg_stdio_src(&cinfo, file);
  jpeg_save_markers(&cinfo, JPEG_COM, 0xffff);
  jpeg_read_header(&cinfo, TRUE);
  const bool synthetic = has_synthetic_comment(&cinfo); /* the saved markers go with jpeg_finish_decompress */
  if (cinfo.image_width > JPEG_MAX_SIDE || cinfo.image_height > JPEG_MAX_SIDE) {
    snprintf(failure.message, sizeof failure.message, "%ux%u pixels, more than %d on a side", cinfo.image_width,
             cinfo.image_height, JPEG_MAX_SIDE);
    longjmp(failure.jump, 1);
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path,
                         "CMYK JPEGs are not supported (save the image as gray or RGB)");
  }
  /* Colour decodes to RGB and converts with the Rec. 709 weights, as PNGs do; gray decodes as it is. */
  bool colour = cinfo.num_components != 1;
  cinfo.out_color_space = colour ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_start_decompress(&cinfo);
  const int width = (int)cinfo.output_width, height = (int)cinfo.output_height;
  pixels = malloc((size_t)width * (size_t)height);
  if (colour) row = malloc((size_t)width * 3);
  if (!pixels || (colour && !row)) {
    free(pixels);
    free(row);
    jpeg_destroy_decompress(&cinfo);
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for %dx%d pixels", width, height);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t *dst = pixels + (size_t)cinfo.output_scanline * (size_t)width;
    JSAMPROW target = colour ? row : dst;
    jpeg_read_scanlines(&cinfo, &target, 1);
    if (colour)
      for (int x = 0; x < width; x++) {
        const uint8_t *p = row + 3 * x;
        dst[x] = (uint8_t)((21260 * p[0] + 71520 * p[1] + 7220 * p[2] + 50000) / 100000);
      }
  }
  failure.pixels_complete = true;
  jpeg_finish_decompress(&cinfo);
  out->width = width;
  out->height = height;
  out->pixels = pixels;
  out->synthetic = synthetic;
  free(row);
  jpeg_destroy_decompress(&cinfo);
  return MG_OK;
}
