/* nifti_write.c: NIfTI-1 single files (.nii, .nii.gz) of any scalar datatype MedGen writes, atomically. The header
 * is built field by field in the host's byte order (readers tell the order from sizeof_hdr), with qform and sform
 * set to the scaled identity or to ITK's LPS identity (options->patient_lps), and an optional comment extension
 * (ecode 6) for text longer than descrip's 79 characters. Voxels are converted and written (or deflated) in pieces
 * straight into the atomic file, so no second copy of a large volume is held. */
#include "mg_io_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

enum { NIFTI_HEADER_BYTES = 348, NIFTI_HEADER_AND_FLAG = 352, NIFTI_MAX_DIM = 32767, DEFLATE_CHUNK = 1 << 16,
       CONVERT_VOXELS = 1 << 14, NIFTI_ECODE_COMMENT = 6, NIFTI_MAX_COMMENT = 1 << 20 };

static void put_i16(unsigned char *h, int off, int v) {
  int16_t t = (int16_t)v;
  memcpy(h + off, &t, 2);
}
static void put_i32(unsigned char *h, int off, int32_t v) { memcpy(h + off, &v, 4); }
static void put_f32(unsigned char *h, int off, float v) { memcpy(h + off, &v, 4); }

/* Bytes per voxel of a datatype MedGen writes; 0 for any other code. */
static int datatype_bytes(int datatype) {
  switch (datatype) {
    case MG_NIFTI_UINT8: case MG_NIFTI_INT8: return 1;
    case MG_NIFTI_INT16: case MG_NIFTI_UINT16: return 2;
    case MG_NIFTI_INT32: case MG_NIFTI_UINT32: case MG_NIFTI_FLOAT32: return 4;
    case MG_NIFTI_FLOAT64: return 8;
    default: return 0;
  }
}

/* Bytes of the comment extension holding text (8 bytes of esize and ecode, the text and its NUL, padded to a
 * multiple of 16 as the standard asks); 0 without text. */
static size_t comment_extension_bytes(const char *text) {
  return text && *text ? (8 + strlen(text) + 1 + 15) / 16 * 16 : 0;
}

/* The 348-byte header and the 4-byte extension flag, ready to write; the voxels start after extension_bytes. */
static void build_header(unsigned char h[NIFTI_HEADER_AND_FLAG], const int dim[3], const float pixdim[3],
                         size_t extension_bytes, const mg_nifti_write_options *o) {
  memset(h, 0, NIFTI_HEADER_AND_FLAG);
  put_i32(h, 0, NIFTI_HEADER_BYTES);
  h[38] = 'r'; /* "regular", as Analyze readers expect */
  const int ndim = dim[2] > 1 ? 3 : 2;
  put_i16(h, 40, ndim);
  for (int i = 1; i <= 7; i++) put_i16(h, 40 + 2 * i, i <= 3 ? dim[i - 1] : 1);
  put_i16(h, 70, o->datatype);
  put_i16(h, 72, 8 * datatype_bytes(o->datatype));
  put_f32(h, 76, 1.0f); /* qfac: right-handed */
  for (int i = 1; i <= 7; i++) put_f32(h, 76 + 4 * i, i <= 3 ? pixdim[i - 1] : 1.0f);
  put_f32(h, 108, (float)(NIFTI_HEADER_AND_FLAG + extension_bytes));
  put_f32(h, 112, 1.0f); /* scl_slope 1, scl_inter 0: the values are the physical ones */
  h[123] = 2;            /* xyzt_units: millimetres */
  char descrip[80];
  if (o->synthetic) snprintf(descrip, sizeof descrip, "%s %s", MG_NIFTI_SYNTHETIC_DESCRIP, o->fields ? o->fields : "");
  else snprintf(descrip, sizeof descrip, "MedGen %s", MEDGEN_VERSION_STRING);
  memcpy(h + 148, descrip, strlen(descrip));
  /* qform_code and sform_code: scanner, offsets 0. LPS: x and y reversed in RAS, the quaternion (b,c,d) = (0,0,1)
   * of a half turn about z, as ITK writes its identity direction; otherwise quaternion 0, the identity. */
  put_i16(h, 252, 1);
  put_i16(h, 254, 1);
  if (o->patient_lps) put_f32(h, 264, 1.0f);
  for (int r = 0; r < 3; r++) put_f32(h, 280 + 16 * r + 4 * r, o->patient_lps && r < 2 ? -pixdim[r] : pixdim[r]);
  if (o->synthetic) memcpy(h + 328, MG_NIFTI_SYNTHETIC_INTENT, strlen(MG_NIFTI_SYNTHETIC_INTENT));
  memcpy(h + 344, "n+1", 4);
  h[348] = extension_bytes > 0; /* extender {1,0,0,0}: extensions follow */
}

/* v rounded to nearest and clamped to [lo, hi] (NaN: 0), for the integer datatypes. */
static double to_integer(float v, double lo, double hi) {
  if (isnan(v)) return 0;
  double r = nearbyint((double)v);
  return r < lo ? lo : r > hi ? hi : r;
}

/* count voxels of src in datatype's representation into dst (unaligned: memcpy per voxel). */
static void convert_voxels(const float *src, size_t count, int datatype, unsigned char *dst) {
#define STORE_AS(type, lo, hi)                                       \
  for (size_t i = 0; i < count; i++) {                               \
    type t = (type)to_integer(src[i], lo, hi);                       \
    memcpy(dst + sizeof t * i, &t, sizeof t);                        \
  }                                                                  \
  break
  switch (datatype) {
    case MG_NIFTI_UINT8: STORE_AS(uint8_t, 0, UINT8_MAX);
    case MG_NIFTI_INT8: STORE_AS(int8_t, INT8_MIN, INT8_MAX);
    case MG_NIFTI_UINT16: STORE_AS(uint16_t, 0, UINT16_MAX);
    case MG_NIFTI_INT16: STORE_AS(int16_t, INT16_MIN, INT16_MAX);
    case MG_NIFTI_UINT32: STORE_AS(uint32_t, 0, UINT32_MAX);
    case MG_NIFTI_INT32: STORE_AS(int32_t, INT32_MIN, INT32_MAX);
    default: /* float64: every float is exact */
      for (size_t i = 0; i < count; i++) {
        double t = src[i];
        memcpy(dst + sizeof t * i, &t, sizeof t);
      }
  }
#undef STORE_AS
}

/* Deflates in (or finishes the stream when finish) and appends the output to af. */
static mg_status deflate_to(z_stream *z, const void *in, size_t bytes, bool finish, mg_atomic_file *af,
                            const char *path, char *err, size_t err_size) {
  unsigned char out[DEFLATE_CHUNK];
  const unsigned char *next = in;
  for (;;) {
    /* avail_in is 32-bit: feed at most 1 GiB at a time */
    uInt feed = bytes > (1u << 30) ? (1u << 30) : (uInt)bytes;
    z->next_in = (Bytef *)next;
    z->avail_in = feed;
    int flush = finish && feed == bytes ? Z_FINISH : Z_NO_FLUSH, rc;
    do {
      z->next_out = out;
      z->avail_out = sizeof out;
      rc = deflate(z, flush);
      if (rc == Z_STREAM_ERROR)
        return mg_file_error(err, err_size, MG_ERR_INTERNAL, path, "zlib deflate failed (%s)", z->msg ? z->msg : "");
      mg_status st = mg_atomic_file_write(af, out, sizeof out - z->avail_out, err, err_size);
      if (st != MG_OK) return st;
    } while (z->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    next += feed;
    bytes -= feed;
    if (bytes == 0) return MG_OK;
  }
}

/* Appends bytes to af, deflated through z when z is set (finish ends the gzip stream). */
static mg_status emit(mg_atomic_file *af, z_stream *z, const void *bytes, size_t size, bool finish, const char *path,
                      char *err, size_t err_size) {
  return z ? deflate_to(z, bytes, size, finish, af, path, err, err_size)
           : mg_atomic_file_write(af, bytes, size, err, err_size);
}

mg_status mg_nifti_write(const char *path, const float *data, const int dim[3], const float pixdim[3],
                         const mg_nifti_write_options *options, char *err, size_t err_size) {
  if (!path || !data || !dim || !pixdim)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "missing %s", !path ? "file name"
                         : !data ? "voxels" : !dim ? "dimensions" : "voxel size");
  mg_nifti_write_options o = options ? *options : (mg_nifti_write_options){0};
  if (o.datatype == 0) o.datatype = MG_NIFTI_FLOAT32;
  const int voxel_bytes = datatype_bytes(o.datatype);
  if (!voxel_bytes)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "NIfTI datatype %d is not one MedGen writes",
                         (int)o.datatype);
  const bool gz = strlen(path) >= 7 && strcasecmp(path + strlen(path) - 7, ".nii.gz") == 0;
  if (!gz && (strlen(path) < 4 || strcasecmp(path + strlen(path) - 4, ".nii") != 0))
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "a NIfTI file name must end in .nii or .nii.gz");
  for (int i = 0; i < 3; i++) {
    if (dim[i] < 1 || dim[i] > NIFTI_MAX_DIM)
      return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "dim[%d] is %d, must be 1..%d", i, dim[i],
                           NIFTI_MAX_DIM);
    if (!isfinite(pixdim[i]) || pixdim[i] <= 0.0f)
      return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "voxel size pixdim[%d] is %g, must be "
                           "positive", i, (double)pixdim[i]);
  }
  const size_t comment_bytes = comment_extension_bytes(o.comment);
  if (comment_bytes > NIFTI_MAX_COMMENT)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "a comment of %zu bytes is too long for "
                         "a NIfTI extension (1 MiB at most)", strlen(o.comment));
  unsigned char header[NIFTI_HEADER_AND_FLAG];
  build_header(header, dim, pixdim, comment_bytes, &o);
  const size_t voxels = (size_t)dim[0] * (size_t)dim[1] * (size_t)dim[2];

  mg_atomic_file *af = NULL;
  mg_status st = mg_atomic_file_open(path, &af, err, err_size);
  if (st != MG_OK) return st;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (gz && deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    mg_atomic_file_abort(af);
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "cannot start zlib compression");
  }
  z_stream *zs = gz ? &z : NULL;
  st = emit(af, zs, header, sizeof header, false, path, err, err_size);
  if (st == MG_OK && comment_bytes > 0) {
    unsigned char code[8] = {0}, padding[16] = {0};
    put_i32(code, 0, (int32_t)comment_bytes);
    put_i32(code, 4, NIFTI_ECODE_COMMENT);
    const size_t text = strlen(o.comment) + 1;
    st = emit(af, zs, code, sizeof code, false, path, err, err_size);
    if (st == MG_OK) st = emit(af, zs, o.comment, text, false, path, err, err_size);
    if (st == MG_OK) st = emit(af, zs, padding, comment_bytes - 8 - text, false, path, err, err_size);
  }
  if (o.datatype == MG_NIFTI_FLOAT32) {
    if (st == MG_OK) st = emit(af, zs, data, voxels * sizeof *data, true, path, err, err_size);
  } else {
    unsigned char converted[CONVERT_VOXELS * 8];
    for (size_t at = 0; st == MG_OK && at < voxels; at += CONVERT_VOXELS) {
      const size_t n = voxels - at < CONVERT_VOXELS ? voxels - at : CONVERT_VOXELS;
      convert_voxels(data + at, n, o.datatype, converted);
      st = emit(af, zs, converted, n * (size_t)voxel_bytes, at + n == voxels, path, err, err_size);
    }
  }
  if (gz) deflateEnd(&z);
  if (st != MG_OK) {
    mg_atomic_file_abort(af);
    return st;
  }
  return mg_atomic_file_commit(af, err, err_size);
}
