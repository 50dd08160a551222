/* nifti.c: NIfTI-1 single-file volumes (.nii, .nii.gz) into float voxels. The header is validated field by
 * field before anything is allocated, and the voxels are read in chunks into a buffer that grows only as data
 * actually arrives: a corrupt or hostile file (a tiny .nii.gz whose header claims billions of voxels) gives a
 * message, never a crash or a huge allocation. zlib's gzread reads compressed and uncompressed files alike. */
#include "mg_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { NIFTI_HEADER_BYTES = 348 };
/* 2^31 voxels (8 GiB of floats): far above any real scan, and a bound on what even a file that really holds
 * that much data can make us allocate. */
#define NIFTI_MAX_VOXELS ((int64_t)1 << 31)
/* Voxel bytes read and converted at a time: the raw buffer's size, whatever the header claims. A multiple of
 * every datatype's size, so a chunk never splits a voxel. */
#define NIFTI_CHUNK_BYTES ((int64_t)16 << 20)

/* NIfTI-1 datatype codes we read, with their sizes in bytes. */
enum { DT_UINT8 = 2, DT_INT16 = 4, DT_INT32 = 8, DT_FLOAT32 = 16, DT_FLOAT64 = 64, DT_UINT16 = 512 };

static int datatype_bytes(int code) {
  switch (code) {
    case DT_UINT8: return 1;
    case DT_INT16: case DT_UINT16: return 2;
    case DT_INT32: case DT_FLOAT32: return 4;
    case DT_FLOAT64: return 8;
    default: return 0;
  }
}

static const char *datatype_name(int code) {
  switch (code) {
    case 1: return "binary (1 bit)";
    case 32: return "complex64";
    case 128: return "RGB24";
    case 256: return "int8";
    case 768: return "uint32";
    case 1024: return "int64";
    case 1280: return "uint64";
    case 1536: return "float128";
    case 1792: return "complex128";
    case 2048: return "complex256";
    case 2304: return "RGBA32";
    default: return "unknown";
  }
}

/* Little helpers reading header fields from a byte buffer in the file's byte order (the header is packed, so
 * fields are copied out rather than cast). */
static void swap_bytes(void *p, int n) {
  unsigned char *b = p;
  for (int i = 0; i < n / 2; i++) {
    unsigned char t = b[i];
    b[i] = b[n - 1 - i];
    b[n - 1 - i] = t;
  }
}
static int32_t get_i32(const unsigned char *h, int off, bool swap) {
  int32_t v;
  memcpy(&v, h + off, 4);
  if (swap) swap_bytes(&v, 4);
  return v;
}
static int16_t get_i16(const unsigned char *h, int off, bool swap) {
  int16_t v;
  memcpy(&v, h + off, 2);
  if (swap) swap_bytes(&v, 2);
  return v;
}
static float get_f32(const unsigned char *h, int off, bool swap) {
  float v;
  memcpy(&v, h + off, 4);
  if (swap) swap_bytes(&v, 4);
  return v;
}

/* Reads exactly n bytes; returns the number read, or -1 on a zlib error (message in *zmsg). gzread takes an
 * unsigned count, so large reads go in pieces. */
static int64_t read_fully(gzFile gz, void *dst, int64_t n, const char **zmsg) {
  int64_t done = 0;
  while (done < n) {
    int64_t want = n - done < (1 << 30) ? n - done : (1 << 30);
    int got = gzread(gz, (char *)dst + done, (unsigned)want);
    if (got < 0) {
      int code;
      *zmsg = gzerror(gz, &code);
      return -1;
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

/* Converts n voxels of the file's type to float, then applies the scaling. */
static void convert_voxels(const unsigned char *raw, int64_t n, int code, bool swap, float slope, float inter,
                           float *out) {
  int bytes = datatype_bytes(code);
  for (int64_t i = 0; i < n; i++) {
    unsigned char b[8];
    memcpy(b, raw + i * bytes, (size_t)bytes);
    if (swap) swap_bytes(b, bytes);
    double v;
    switch (code) {
      case DT_UINT8: v = b[0]; break;
      case DT_INT16: { int16_t t; memcpy(&t, b, 2); v = t; break; }
      case DT_UINT16: { uint16_t t; memcpy(&t, b, 2); v = t; break; }
      case DT_INT32: { int32_t t; memcpy(&t, b, 4); v = t; break; }
      case DT_FLOAT32: { float t; memcpy(&t, b, 4); v = t; break; }
      default: { double t; memcpy(&t, b, 8); v = t; break; }
    }
    v = v * slope + inter;
    out[i] = isfinite(v) && fabs(v) < 3.0e38 ? (float)v : 0.0f;
  }
}

/* Reads the dims[0]*dims[1]*dims[2] voxels that follow the header, converting each chunk to float as it arrives.
 * The output grows (doubling, capped at the header's size) only as data arrives, so a file that holds less than
 * its header claims fails after allocating about as much as it really holds. On success *out is the volume's
 * data (malloc'ed); on failure it stays NULL. */
static mg_status read_voxels(gzFile gz, const char *path, const int dims[3], int code, bool swap, float slope,
                             float inter, float **out, char *err, size_t err_size) {
  const int bytes = datatype_bytes(code);
  const int64_t nvox = (int64_t)dims[0] * dims[1] * dims[2], nbytes = nvox * bytes;
  const int64_t chunk = nbytes < NIFTI_CHUNK_BYTES ? nbytes : NIFTI_CHUNK_BYTES;
  unsigned char *raw = malloc((size_t)chunk);
  if (!raw) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for a read buffer");
  float *data = NULL;
  int64_t cap = 0, done = 0; /* voxels allocated and voxels converted */
  mg_status st = MG_OK;
  while (done < nvox) {
    const char *zmsg = "";
    int64_t want = (nvox - done) * bytes < chunk ? (nvox - done) * bytes : chunk;
    int64_t got = read_fully(gz, raw, want, &zmsg);
    if (got < 0) {
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "corrupt compressed data (%s)", zmsg);
      break;
    }
    int64_t n = got / bytes;
    if (done + n > cap) {
      int64_t grown = 2 * cap > done + n ? 2 * cap : done + n;
      if (grown > nvox) grown = nvox;
      float *bigger = realloc(data, (size_t)grown * sizeof *bigger);
      if (!bigger) {
        st = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory after %lld of %lld voxels",
                        (long long)done, (long long)nvox);
        break;
      }
      data = bigger;
      cap = grown;
    }
    convert_voxels(raw, n, code, swap, slope, inter, data + done);
    done += n;
    if (got < want) {
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                      "file is truncated: the %dx%dx%d image needs %lld bytes of voxel data, only %lld present",
                      dims[0], dims[1], dims[2], (long long)nbytes, (long long)(done * bytes + got % bytes));
      break;
    }
  }
  free(raw);
  if (st != MG_OK) {
    free(data);
    return st;
  }
  *out = data;
  return MG_OK;
}

/* Validates the header; fills dims, pixdim and the conversion parameters. */
static mg_status parse_header(const unsigned char *h, const char *path, int dims[3], float pixdim[3], int *code,
                              bool *swap, float *slope, float *inter, int64_t *vox_offset, char *err,
                              size_t err_size) {
  int32_t size = get_i32(h, 0, false);
  *swap = false;
  if (size != NIFTI_HEADER_BYTES) {
    if (get_i32(h, 0, true) == NIFTI_HEADER_BYTES) *swap = true;
    else if (size == 540 || get_i32(h, 0, true) == 540)
      return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "NIfTI-2 files are not supported (NIfTI-1 only)");
    else
      return mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                        "not a NIfTI-1 file (header size field is %d, expected 348)", (int)size);
  }
  if (memcmp(h + 344, "ni1\0", 4) == 0)
    return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path,
                      "a .hdr/.img pair is not supported; convert it to a single .nii or .nii.gz file");
  if (memcmp(h + 344, "n+1\0", 4) != 0)
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "missing the NIfTI-1 magic \"n+1\" (an Analyze 7.5 file?)");

  int ndim = get_i16(h, 40, *swap);
  if (ndim < 1 || ndim > 7)
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "dim[0] is %d, must be 1..7", ndim);
  int64_t nvox = 1;
  for (int i = 1; i <= ndim; i++) {
    int d = get_i16(h, 40 + 2 * i, *swap);
    if (d < 1) return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "dim[%d] is %d, must be at least 1", i, d);
    if (i > 3 && d > 1)
      return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path,
                        "dimension %d has %d entries; only 3D volumes (one frame) are supported", i, d);
    if (i <= 3) dims[i - 1] = d;
    nvox *= d;
  }
  for (int i = ndim + 1; i <= 3; i++) dims[i - 1] = 1;
  if (nvox > NIFTI_MAX_VOXELS)
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                      "the header claims %dx%dx%d = %lld voxels, more than this reader accepts (%lld); the file is "
                      "corrupt or not a single volume", dims[0], dims[1], dims[2], (long long)nvox,
                      (long long)NIFTI_MAX_VOXELS);

  *code = get_i16(h, 70, *swap);
  int bitpix = get_i16(h, 72, *swap);
  int bytes = datatype_bytes(*code);
  if (!bytes)
    return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path,
                      "datatype %d (%s) is not supported; use uint8, int16, uint16, int32, float32 or float64",
                      *code, datatype_name(*code));
  if (bitpix != 8 * bytes)
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "bitpix %d does not match datatype %d (%d bits)", bitpix,
                      *code, 8 * bytes);

  for (int i = 0; i < 3; i++) {
    float p = i < ndim ? fabsf(get_f32(h, 80 + 4 * i, *swap)) : 1.0f;
    if (!isfinite(p) || p <= 0.0f)
      return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "voxel size pixdim[%d] is %g, must be positive", i + 1,
                        (double)p);
    pixdim[i] = p;
  }

  float off = get_f32(h, 108, *swap);
  if (!isfinite(off) || off < NIFTI_HEADER_BYTES || off > (float)(1 << 30) || off != floorf(off))
    return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "vox_offset %g is invalid (must be a whole number >= 348)",
                      (double)off);
  *vox_offset = (int64_t)off;

  /* A slope of 0 (or garbage) means "no scaling" in NIfTI-1. */
  *slope = get_f32(h, 112, *swap);
  *inter = get_f32(h, 116, *swap);
  if (!isfinite(*slope) || *slope == 0.0f) {
    *slope = 1.0f;
    *inter = 0.0f;
  }
  if (!isfinite(*inter)) *inter = 0.0f;
  return MG_OK;
}

mg_status mg_nifti_read(const char *path, mg_volume *out, char *err, size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output volume given");
  memset(out, 0, sizeof *out);
  if (!path) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no file name given");
  gzFile gz = gzopen(path, "rb");
  if (!gz) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the file");
  gzbuffer(gz, 1 << 17);

  mg_status st;
  unsigned char header[NIFTI_HEADER_BYTES];
  const char *zmsg = "";
  int dims[3] = {0, 0, 0}, code = 0;
  float pixdim[3] = {0, 0, 0}, slope = 1.0f, inter = 0.0f;
  bool swap = false;
  int64_t vox_offset = 0;
  int64_t got = read_fully(gz, header, NIFTI_HEADER_BYTES, &zmsg);
  if (got < 0) {
    st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "corrupt compressed data (%s)", zmsg);
    goto done;
  }
  if (got < NIFTI_HEADER_BYTES) {
    st = mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                    "only %lld bytes long, too short for a NIfTI-1 header (348 bytes)", (long long)got);
    goto done;
  }
  st = parse_header(header, path, dims, pixdim, &code, &swap, &slope, &inter, &vox_offset, err, err_size);
  if (st != MG_OK) goto done;

  /* Skip the extensions between the header and the voxels. */
  unsigned char skip[4096];
  for (int64_t left = vox_offset - NIFTI_HEADER_BYTES; left > 0;) {
    int64_t n = left < (int64_t)sizeof skip ? left : (int64_t)sizeof skip;
    int64_t r = read_fully(gz, skip, n, &zmsg);
    if (r < 0) {
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "corrupt compressed data (%s)", zmsg);
      goto done;
    }
    if (r < n) {
      st = mg_file_error(err, err_size, MG_ERR_FORMAT, path, "file ends before the image data at offset %lld",
                      (long long)vox_offset);
      goto done;
    }
    left -= n;
  }

  st = read_voxels(gz, path, dims, code, swap, slope, inter, &out->data, err, err_size);
  if (st != MG_OK) goto done;
  memcpy(out->dim, dims, sizeof dims);
  memcpy(out->pixdim, pixdim, sizeof pixdim);

done:
  gzclose(gz);
  return st;
}

void mg_volume_free(mg_volume *v) {
  if (!v) return;
  free(v->data);
  memset(v, 0, sizeof *v);
}
