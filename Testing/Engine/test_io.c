/* test_io.c: Logic/IO against files this test writes byte by byte: NIfTI-1 round trips for every supported
 * datatype (plain, gzip, big-endian, scaled) and for a volume larger than one read chunk, bad files rejected with a
 * message naming the file, a tiny forged .nii.gz claiming 2^31 voxels rejected without a huge allocation (under an
 * address-space limit), PNG write/read round trips (gray and colour), the synthetic-image marker present in the
 * written bytes, and atomic writes leaving no temporary files. */
#include "mg_io.h"
#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* AddressSanitizer reserves terabytes of address space up front, so an address-space limit cannot apply there. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static char dir[256];

static const char *tmp_path(const char *name) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

/* ---- a minimal NIfTI-1 writer, independent of the reader ---- */
typedef struct {
  int ndim, dim[7];
  int datatype, bitpix;
  float pixdim[3], vox_offset, slope, inter;
  bool big_endian;
  int32_t header_size;
  const char *magic;
} nifti_spec;

static void put(unsigned char *h, int off, const void *v, int n, bool swap) {
  for (int i = 0; i < n; i++) h[off + i] = ((const unsigned char *)v)[swap ? n - 1 - i : i];
}

/* Writes header + 4 zero extension bytes + n voxels of `bytes` each (given in little-endian host order).
 * Returns false if the file cannot be written. */
static bool write_nifti(const char *path, const nifti_spec *s, const void *voxels, int64_t nbytes, int voxel_bytes,
                        bool gzip) {
  unsigned char h[352];
  memset(h, 0, sizeof h);
  bool sw = s->big_endian;
  put(h, 0, &s->header_size, 4, sw);
  int16_t dims[8] = {(int16_t)s->ndim, 1, 1, 1, 1, 1, 1, 1};
  for (int i = 0; i < s->ndim; i++) dims[i + 1] = (int16_t)s->dim[i];
  for (int i = 0; i < 8; i++) put(h, 40 + 2 * i, &dims[i], 2, sw);
  int16_t dt = (int16_t)s->datatype, bp = (int16_t)s->bitpix;
  put(h, 70, &dt, 2, sw);
  put(h, 72, &bp, 2, sw);
  float pix[8] = {1, s->pixdim[0], s->pixdim[1], s->pixdim[2], 1, 1, 1, 1};
  for (int i = 0; i < 8; i++) put(h, 76 + 4 * i, &pix[i], 4, sw);
  put(h, 108, &s->vox_offset, 4, sw);
  put(h, 112, &s->slope, 4, sw);
  put(h, 116, &s->inter, 4, sw);
  memcpy(h + 344, s->magic, 4);
  unsigned char *body = malloc((size_t)nbytes);
  memcpy(body, voxels, (size_t)nbytes);
  if (sw)
    for (int64_t i = 0; i < nbytes; i += voxel_bytes)
      for (int j = 0; j < voxel_bytes / 2; j++) {
        unsigned char t = body[i + j];
        body[i + j] = body[i + voxel_bytes - 1 - j];
        body[i + voxel_bytes - 1 - j] = t;
      }
  bool ok;
  if (gzip) {
    gzFile gz = gzopen(path, "wb");
    ok = gz && gzwrite(gz, h, sizeof h) == (int)sizeof h && gzwrite(gz, body, (unsigned)nbytes) == (int)nbytes;
    ok = gz && gzclose(gz) == Z_OK && ok;
  } else {
    FILE *f = fopen(path, "wb");
    ok = f && fwrite(h, 1, sizeof h, f) == sizeof h && fwrite(body, 1, (size_t)nbytes, f) == (size_t)nbytes;
    ok = f && fclose(f) == 0 && ok;
  }
  free(body);
  return ok;
}

static nifti_spec default_spec(int datatype, int bitpix) {
  nifti_spec s = {3, {5, 4, 3}, datatype, bitpix, {0.5f, 0.75f, 2.0f}, 352.0f, 0.0f, 0.0f, false, 348, "n+1"};
  return s;
}

/* One datatype: voxel i holds value(i); the reader must return value(i)*slope + inter in float. */
static void check_roundtrip(const char *label, int datatype, int bytes, bool gzip, bool big_endian, float slope,
                            float inter) {
  enum { N = 5 * 4 * 3 };
  unsigned char raw[N * 8];
  double expect[N];
  for (int i = 0; i < N; i++) {
    double v = (i * 7) % 60; /* fits every type; negative and fractional values where the type has them */
    switch (datatype) {
      case 2: { uint8_t t = (uint8_t)(v * 4); memcpy(raw + i, &t, 1); v = t; break; }
      case 4: { int16_t t = (int16_t)(v * 500 - 12000); memcpy(raw + 2 * i, &t, 2); v = t; break; }
      case 512: { uint16_t t = (uint16_t)(v * 1000); memcpy(raw + 2 * i, &t, 2); v = t; break; }
      case 8: { int32_t t = (int32_t)(v * 100000 - 3000000); memcpy(raw + 4 * i, &t, 4); v = t; break; }
      case 16: { float t = (float)(v * 0.37 - 5.5); memcpy(raw + 4 * i, &t, 4); v = t; break; }
      default: { double t = v * 0.125 - 3.25; memcpy(raw + 8 * i, &t, 8); v = t; break; }
    }
    expect[i] = slope != 0.0f ? v * slope + inter : v;
  }
  nifti_spec s = default_spec(datatype, 8 * bytes);
  s.big_endian = big_endian;
  s.slope = slope;
  s.inter = inter;
  const char *path = tmp_path(gzip ? "roundtrip.nii.gz" : "roundtrip.nii");
  if (!tu_check(write_nifti(path, &s, raw, (int64_t)N * bytes, bytes, gzip), "%s: cannot write %s", label, path))
    return;
  mg_volume v;
  char err[512] = "";
  mg_status st = mg_nifti_read(path, &v, err, sizeof err);
  if (!tu_check(st == MG_OK, "%s: read failed: %s", label, err)) return;
  tu_check(v.dim[0] == 5 && v.dim[1] == 4 && v.dim[2] == 3, "%s: dims %dx%dx%d", label, v.dim[0], v.dim[1],
           v.dim[2]);
  tu_check(v.pixdim[0] == 0.5f && v.pixdim[1] == 0.75f && v.pixdim[2] == 2.0f, "%s: pixdim", label);
  int bad = 0;
  for (int i = 0; i < N; i++)
    if (fabs(v.data[i] - expect[i]) > 1e-6 * (1 + fabs(expect[i]))) bad++;
  tu_check(bad == 0, "%s: %d of %d voxels differ", label, bad, N);
  mg_volume_free(&v);
}

/* A bad file must fail with the expected status and a message that names the file and contains `needle`. */
static void check_rejected(const char *label, const char *path, mg_status want, const char *needle) {
  mg_volume v;
  char err[512] = "";
  mg_status st = mg_nifti_read(path, &v, err, sizeof err);
  tu_check(st == want, "%s: status %d, expected %d (%s)", label, (int)st, (int)want, err);
  tu_check(strstr(err, path) != NULL && strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err,
           needle);
  tu_check(v.data == NULL, "%s: no data on failure", label);
}

static void test_nifti(void) {
  const struct { int code, bytes; const char *name; } types[] = {
      {2, 1, "uint8"}, {4, 2, "int16"}, {512, 2, "uint16"}, {8, 4, "int32"}, {16, 4, "float32"}, {64, 8, "float64"}};
  for (int t = 0; t < 6; t++) {
    char label[64];
    snprintf(label, sizeof label, "%s plain", types[t].name);
    check_roundtrip(label, types[t].code, types[t].bytes, false, false, 0.0f, 0.0f);
    snprintf(label, sizeof label, "%s gzip big-endian", types[t].name);
    check_roundtrip(label, types[t].code, types[t].bytes, true, true, 0.0f, 0.0f);
    snprintf(label, sizeof label, "%s gzip scaled", types[t].name);
    check_roundtrip(label, types[t].code, types[t].bytes, true, false, 2.5f, -7.0f);
  }

  /* bad files */
  enum { N = 5 * 4 * 3 };
  int16_t voxels[N] = {0};
  nifti_spec s = default_spec(4, 16);
  const char *trunc = tmp_path("truncated.nii");
  write_nifti(trunc, &s, voxels, (int64_t)N * 2 - 10, 2, false);
  check_rejected("truncated data", trunc, MG_ERR_FORMAT, "truncated");
  const char *trunc_gz = tmp_path("truncated.nii.gz");
  write_nifti(trunc_gz, &s, voxels, (int64_t)N * 2 - 10, 2, true);
  check_rejected("truncated gzip data", trunc_gz, MG_ERR_FORMAT, "truncated");

  const char *short_file = tmp_path("short.nii");
  FILE *f = fopen(short_file, "wb");
  fwrite("n+1", 1, 4, f);
  fclose(f);
  check_rejected("shorter than a header", short_file, MG_ERR_FORMAT, "too short");

  nifti_spec bad = s;
  bad.header_size = 123;
  const char *badhdr = tmp_path("badsize.nii");
  write_nifti(badhdr, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("sizeof_hdr 123", badhdr, MG_ERR_FORMAT, "not a NIfTI-1");

  bad = s;
  bad.magic = "abc";
  const char *badmagic = tmp_path("badmagic.nii");
  write_nifti(badmagic, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("bad magic", badmagic, MG_ERR_FORMAT, "magic");

  bad = s;
  bad.dim[1] = 0;
  const char *baddim = tmp_path("baddim.nii");
  write_nifti(baddim, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("zero dim", baddim, MG_ERR_FORMAT, "dim[2]");

  bad = s;
  bad.dim[0] = -5;
  write_nifti(baddim, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("negative dim", baddim, MG_ERR_FORMAT, "dim[1]");

  bad = s;
  bad.ndim = 4;
  bad.dim[3] = 2;
  const char *frames = tmp_path("frames.nii");
  write_nifti(frames, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("4D series", frames, MG_ERR_UNSUPPORTED, "only 3D");

  bad = s;
  bad.dim[0] = bad.dim[1] = bad.dim[2] = 30000; /* a forged header asking for 27e12 voxels */
  const char *huge = tmp_path("huge.nii");
  write_nifti(huge, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("absurd size", huge, MG_ERR_FORMAT, "voxels, more than this reader accepts");

  bad = s;
  bad.datatype = 128;
  bad.bitpix = 24;
  const char *rgb = tmp_path("rgb.nii");
  write_nifti(rgb, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("RGB datatype", rgb, MG_ERR_UNSUPPORTED, "RGB24");

  bad = s;
  bad.bitpix = 8;
  const char *bitpix = tmp_path("bitpix.nii");
  write_nifti(bitpix, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("bitpix mismatch", bitpix, MG_ERR_FORMAT, "bitpix");

  bad = s;
  bad.vox_offset = 100.0f;
  const char *offset = tmp_path("offset.nii");
  write_nifti(offset, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("vox_offset inside the header", offset, MG_ERR_FORMAT, "vox_offset");

  bad = s;
  bad.pixdim[1] = 0.0f;
  const char *pixdim = tmp_path("pixdim.nii");
  write_nifti(pixdim, &bad, voxels, (int64_t)N * 2, 2, false);
  check_rejected("zero voxel size", pixdim, MG_ERR_FORMAT, "pixdim[2]");

  /* a gzip stream whose body is garbage */
  const char *garbage = tmp_path("garbage.nii.gz");
  f = fopen(garbage, "wb");
  const unsigned char gz_head[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  fwrite(gz_head, 1, sizeof gz_head, f);
  for (int i = 0; i < 2000; i++) fputc((i * 131) & 0xff, f);
  fclose(f);
  mg_volume v;
  char err[512] = "";
  tu_check(mg_nifti_read(garbage, &v, err, sizeof err) != MG_OK && strstr(err, garbage), "garbage gzip: %s", err);

  check_rejected("missing file", tmp_path("does-not-exist.nii"), MG_ERR_IO, "cannot open");
}

/* A volume larger than one 16 MiB read chunk: every voxel must come back, including those of the last chunk. */
static void test_nifti_chunks(void) {
  nifti_spec s = default_spec(4, 16);
  s.dim[0] = 128, s.dim[1] = 128, s.dim[2] = 600; /* 19.7 MB of int16 */
  const int64_t n = (int64_t)s.dim[0] * s.dim[1] * s.dim[2];
  int16_t *voxels = malloc((size_t)n * sizeof *voxels);
  for (int64_t i = 0; i < n; i++) voxels[i] = (int16_t)((i * 7919) % 65521 - 32760);
  const char *path = tmp_path("large.nii");
  if (tu_check(write_nifti(path, &s, voxels, n * 2, 2, false), "large: cannot write %s", path)) {
    mg_volume v;
    char err[512] = "";
    if (tu_check(mg_nifti_read(path, &v, err, sizeof err) == MG_OK, "large: read failed: %s", err)) {
      int64_t bad = 0;
      for (int64_t i = 0; i < n; i++) bad += v.data[i] != (float)voxels[i];
      tu_check(bad == 0, "large: %lld of %lld voxels differ", (long long)bad, (long long)n);
      mg_volume_free(&v);
    }
  }
  unlink(path);
  free(voxels);
}

/* The process's address space in bytes (Linux), or -1. */
static int64_t address_space_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long pages = -1;
  if (f && fscanf(f, "%lld", &pages) != 1) pages = -1;
  if (f) fclose(f);
  return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* A .nii.gz of a few kilobytes whose header claims 2048x1024x1024 uint8 voxels (2^31, the most the reader accepts:
 * 2 GiB of data, 8 GiB of floats) but holds only data_bytes of them. It must fail as truncated, naming the file,
 * after allocating about what the file holds: the read runs in a child process that may use at most 1 GiB more
 * address space than it has, where allocating the claimed size up front fails. */
static void check_forged_size(const char *label, int64_t data_bytes) {
  nifti_spec s = default_spec(2, 8);
  s.dim[0] = 2048, s.dim[1] = 1024, s.dim[2] = 1024;
  unsigned char *zeros = calloc((size_t)data_bytes, 1); /* zeros: a few MB compress to a few KB */
  const char *path = tmp_path("forged.nii.gz");
  bool written = write_nifti(path, &s, zeros, data_bytes, 1, true);
  free(zeros);
  if (!tu_check(written, "%s: cannot write %s", label, path)) return;
  fflush(NULL);
  pid_t pid = fork();
  if (!tu_check(pid >= 0, "%s: fork failed", label)) return;
  if (pid == 0) {
    int64_t used = address_space_bytes();
    if (UNDER_ASAN || used < 0) {
      printf("note: %s: reading without an address-space limit (%s)\n", label,
             UNDER_ASAN ? "AddressSanitizer build" : "no /proc/self/statm");
    } else {
      struct rlimit limit = {(rlim_t)used + ((rlim_t)1 << 30), (rlim_t)used + ((rlim_t)1 << 30)};
      if (setrlimit(RLIMIT_AS, &limit) != 0) {
        fprintf(stderr, "FAIL: %s: setrlimit(RLIMIT_AS)\n", label);
        _exit(1);
      }
    }
    mg_volume v;
    char err[512] = "";
    mg_status st = mg_nifti_read(path, &v, err, sizeof err);
    char present[64];
    snprintf(present, sizeof present, "only %lld present", (long long)data_bytes);
    bool ok = st == MG_ERR_FORMAT && strstr(err, path) && strstr(err, "truncated") && strstr(err, present) && !v.data;
    if (!ok) fprintf(stderr, "FAIL: %s: status %d (%s), expected a format error saying \"truncated\" and \"%s\"\n",
                     label, (int)st, err, present);
    fflush(NULL);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  bool waited = waitpid(pid, &status, 0) == pid;
  tu_check(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "%s: the reader failed under a 1 GiB address-space limit (see above; wait status %d)", label, status);
  unlink(path);
}

/* ---- PNG ---- */

/* True when the file's bytes hold a tEXt chunk "Comment\0<marker>" (checked without libpng). */
static bool file_has_text_chunk(const char *path, const char *key, const char *value) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  static unsigned char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char want[256];
  int len = snprintf(want, sizeof want, "tEXt%s", key);
  memcpy(want + len + 1, value, strlen(value)); /* key, NUL separator, text */
  size_t wlen = (size_t)len + 1 + strlen(value);
  for (size_t i = 0; i + wlen <= n; i++)
    if (memcmp(buf + i, want, wlen) == 0) return true;
  return false;
}

static int count_files_in_dir(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

/* An RGB PNG written with libpng directly, to check the reader's colour conversion. */
static bool write_rgb_png(const char *path, const uint8_t *rgb, int w, int h) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)(rgb + (size_t)y * w * 3));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return fclose(f) == 0;
}

static void test_png(void) {
  enum { W = 37, H = 23 };
  uint8_t pixels[W * H];
  for (int i = 0; i < W * H; i++) pixels[i] = (uint8_t)((i * 37 + i / W) & 0xff);
  char err[512] = "";
  int files_before = count_files_in_dir();

  const char *synth = tmp_path("synthetic.png");
  tu_check(mg_png_write(synth, pixels, W, H, true, err, sizeof err) == MG_OK, "png write: %s", err);
  tu_check(file_has_text_chunk(synth, "Comment", MG_PNG_SYNTHETIC_TEXT), "synthetic PNG lacks the tEXt marker");
  mg_image img;
  tu_check(mg_png_read(synth, &img, err, sizeof err) == MG_OK, "png read: %s", err);
  tu_check(img.width == W && img.height == H && img.pixels && memcmp(img.pixels, pixels, sizeof pixels) == 0,
           "png round trip differs");
  tu_check(img.synthetic, "reader must report the synthetic marker");
  mg_image_free(&img);

  const char *real = tmp_path("plain.png");
  tu_check(mg_png_write(real, pixels, W, H, false, err, sizeof err) == MG_OK, "png write: %s", err);
  tu_check(!file_has_text_chunk(real, "Comment", MG_PNG_SYNTHETIC_TEXT), "non-synthetic PNG must not be marked");
  tu_check(mg_png_read(real, &img, err, sizeof err) == MG_OK && !img.synthetic, "plain png read: %s", err);
  mg_image_free(&img);
  /* overwriting an existing file goes through a temporary too */
  tu_check(mg_png_write(real, pixels, W, H, false, err, sizeof err) == MG_OK, "png overwrite: %s", err);
  tu_check(count_files_in_dir() == files_before + 2, "atomic writes must leave no temporary files (%d files)",
           count_files_in_dir() - files_before);

  /* colour: gray pixels (r=g=b) keep their value; pure red/green/blue follow the Rec. 709 weights */
  uint8_t rgb[4 * 3 * 3];
  const uint8_t colours[4][3] = {{200, 200, 200}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  for (int i = 0; i < 12; i++) memcpy(rgb + 3 * i, colours[i % 4], 3);
  const char *colour = tmp_path("colour.png");
  tu_check(write_rgb_png(colour, rgb, 4, 3), "cannot write the RGB test PNG");
  tu_check(mg_png_read(colour, &img, err, sizeof err) == MG_OK && img.width == 4 && img.height == 3,
           "rgb read: %s", err);
  if (img.pixels) {
    const double expect[4] = {200, 0.2126 * 255, 0.7152 * 255, 0.0722 * 255};
    for (int i = 0; i < 4; i++)
      tu_check(fabs(img.pixels[i] - expect[i]) <= 1.0, "rgb->gray pixel %d: %d, expected %.1f", i, img.pixels[i],
               expect[i]);
  }
  mg_image_free(&img);

  /* bad input: a truncated PNG, a non-PNG, a folder that does not exist */
  FILE *f = fopen(synth, "rb");
  unsigned char head[60];
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  const char *cut = tmp_path("cut.png");
  f = fopen(cut, "wb");
  fwrite(head, 1, n, f);
  fclose(f);
  tu_check(mg_png_read(cut, &img, err, sizeof err) == MG_ERR_FORMAT && strstr(err, cut) && !img.pixels,
           "truncated png: %s", err);
  tu_check(mg_png_read(tmp_path("roundtrip.nii"), &img, err, sizeof err) == MG_ERR_FORMAT &&
               strstr(err, "not a PNG"), "non-png: %s", err);
  const char *nowhere = tmp_path("no-such-folder/x.png");
  tu_check(mg_png_write(nowhere, pixels, W, H, true, err, sizeof err) == MG_ERR_IO && strstr(err, nowhere),
           "unwritable path: %s", err);
  tu_check(mg_png_write(synth, pixels, 0, H, true, err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "zero width: %s",
           err);
}

static void test_text_file(void) {
  const char *path = tmp_path("log.csv");
  const char text[] = "step,loss\n1,0.5\n";
  char err[512] = "", back[64] = "";
  tu_check(mg_file_write_atomic(path, text, strlen(text), err, sizeof err) == MG_OK, "text write: %s", err);
  tu_check(mg_file_write_atomic(path, text, strlen(text), err, sizeof err) == MG_OK, "text overwrite: %s", err);
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(back, 1, sizeof back - 1, f) : 0;
  if (f) fclose(f);
  tu_check(n == strlen(text) && memcmp(back, text, n) == 0, "text file content differs");
  const char *nowhere = tmp_path("no-such-folder/log.csv");
  tu_check(mg_file_write_atomic(nowhere, text, strlen(text), err, sizeof err) == MG_ERR_IO && strstr(err, nowhere),
           "text to an unwritable path: %s", err);
}

/* Removes the scratch folder's files (flat) and the folder. */
static void cleanup(void) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(tmp_path(e->d_name));
  if (d) closedir(d);
  rmdir(dir);
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/medgen-test-io-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "FAIL: cannot create a scratch folder under %s\n", base ? base : "/tmp");
    return EXIT_FAILURE;
  }
  test_nifti();
  test_nifti_chunks();
  check_forged_size("forged header, 1000 bytes of data", 1000);
  check_forged_size("forged header, 20 MiB of data (two chunks)", (int64_t)20 << 20);
  test_png();
  int before = count_files_in_dir();
  test_text_file();
  tu_check(count_files_in_dir() == before + 1, "the text writes must leave exactly one file");
  cleanup();
  return tu_finish();
}
