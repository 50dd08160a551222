/* test_image_folder.c: the training-image side of Logic/IO against references computed here: JPEG reading
 * (gray, colour with the Rec. 709 weights, progressive, truncated, oversized) on files this test writes with
 * libjpeg; mg_image_read's format detection; area resampling against a supersampling reference for many ratios;
 * image folders (class order, file order, skipped files, sizes, normalization, every layout error, the lowest
 * failing file reported whatever the thread count); mg_nifti_write checked byte by byte and through
 * mg_nifti_read; PNG grids. With --mednist DATA_DIR it instead reads a few MedNIST files taken from
 * DATA_DIR/MedNIST-64.tar.gz (skips, exit code 77, where the archive is absent); with --nibabel PYTHON SCRIPT it
 * writes NIfTI files for Testing/Python/nifti_nibabel_check.py to read with nibabel (skips where it is absent). */
#define _XOPEN_SOURCE 700 /* nftw, for removing the scratch tree */
#include "mg_io.h"
#include "test_check.h"

#include <ftw.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>

static char root[256];

static const char *path_of(const char *name) {
  static char buf[16][512];
  static int next;
  char *p = buf[next++ % 16];
  tu_check(snprintf(p, 512, "%s/%s", root, name) < 512, "path of %s too long", name);
  return p;
}

/* float32, marked synthetic: how these tests write their NIfTI files */
static const mg_nifti_write_options synthetic_float = {.datatype = MG_NIFTI_FLOAT32, .synthetic = true,
                                                      .fields = "test"};

static void make_dir(const char *name) { mkdir(path_of(name), 0755); }

static void write_bytes(const char *name, const void *data, size_t n) {
  FILE *f = fopen(path_of(name), "wb");
  if (f) {
    fwrite(data, 1, n, f);
    fclose(f);
  }
  tu_check(f != NULL, "cannot write %s", name);
}

/* A JPEG written with libjpeg itself: gray (components 1), CMYK (4) or RGB without chroma subsampling, so that
 * flat colours decode back to themselves within a step or two. */
static void write_jpeg(const char *name, const uint8_t *pixels, int w, int h, int components, bool progressive,
                       const char *comment) {
  FILE *f = fopen(path_of(name), "wb");
  if (!tu_check(f != NULL, "cannot write %s", name)) return;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = components;
  c.in_color_space = components == 4 ? JCS_CMYK : components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  if (comment) jpeg_write_marker(&c, JPEG_COM, (const JOCTET *)comment, (unsigned)strlen(comment));
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
}

static void write_png(const char *name, const uint8_t *pixels, int w, int h) {
  char err[512] = "";
  tu_check(mg_png_write(path_of(name), pixels, w, h, false, err, sizeof err) == MG_OK, "png %s: %s", name, err);
}

/* Keeps the first half of a file: a JPEG cut in the middle of its entropy-coded data. */
static void truncate_half(const char *name) {
  struct stat sb;
  if (stat(path_of(name), &sb) == 0) tu_check(truncate(path_of(name), sb.st_size / 2) == 0, "truncate %s", name);
}

/* A test pattern: a gradient with a few sharp features, 0..255. */
static void pattern(uint8_t *p, int w, int h, int seed) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) p[y * w + x] = (uint8_t)((x * 97 + y * 31 + seed * 53) % 256);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void clear_root(void) {
  nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  mkdir(root, 0755);
}

/* ---- area resampling ---- */

/* Independent reference: replicate each source pixel size x size times (a grid where every output pixel covers
 * exactly width x height fine cells) and average the fine cells under each output pixel. */
static void reference_resize(const float *src, int width, int height, int size, double *out) {
  for (int oy = 0; oy < size; oy++)
    for (int ox = 0; ox < size; ox++) {
      double sum = 0.0;
      for (int fy = oy * height; fy < (oy + 1) * height; fy++)
        for (int fx = ox * width; fx < (ox + 1) * width; fx++) sum += src[(fy / size) * width + fx / size];
      out[oy * size + ox] = sum / ((double)width * height);
    }
}

static void test_resize(void) {
  /* hand-computed: 4x4 -> 2x2 is the mean of each 2x2 block */
  const float a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  float out[4];
  mg_image_resize_area(a, 4, 4, 2, out);
  const float blocks[4] = {(1 + 2 + 5 + 6) / 4.0f, (3 + 4 + 7 + 8) / 4.0f, (9 + 10 + 13 + 14) / 4.0f,
                           (11 + 12 + 15 + 16) / 4.0f};
  for (int i = 0; i < 4; i++) tu_check(out[i] == blocks[i], "4x4->2x2 [%d]: %g, expected %g", i, out[i], blocks[i]);
  /* 3x3 -> 2x2: each output covers 1.5 x 1.5 pixels: weights 1, 0.5 and 0.25 over an area of 2.25 */
  const float b[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  mg_image_resize_area(b, 3, 3, 2, out);
  const double corner[4] = {(1 + 0.5 * 2 + 0.5 * 4 + 0.25 * 5) / 2.25, (3 + 0.5 * 2 + 0.5 * 6 + 0.25 * 5) / 2.25,
                            (7 + 0.5 * 4 + 0.5 * 8 + 0.25 * 5) / 2.25, (9 + 0.5 * 6 + 0.5 * 8 + 0.25 * 5) / 2.25};
  for (int i = 0; i < 4; i++)
    tu_check(fabs(out[i] - corner[i]) < 1e-6, "3x3->2x2 [%d]: %g, expected %g", i, out[i], corner[i]);
  /* upsampling 2x2 -> 4x4 replicates each pixel into a 2x2 block */
  const float c[4] = {1, 2, 3, 4};
  float up[16];
  mg_image_resize_area(c, 2, 2, 4, up);
  for (int i = 0; i < 16; i++)
    tu_check(up[i] == c[(i / 4 / 2) * 2 + (i % 4) / 2], "2x2->4x4 [%d]: %g", i, up[i]);

  /* many ratios, non-square sources, up and down, against the supersampling reference */
  const int cases[][3] = {{3, 3, 2}, {5, 5, 3}, {7, 5, 3}, {5, 7, 4}, {64, 64, 32}, {64, 64, 24}, {2, 3, 5},
                          {3, 3, 7}, {13, 11, 13}, {8, 8, 8}, {1, 1, 3}, {9, 4, 1}, {48, 40, 64}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int w = cases[k][0], h = cases[k][1], s = cases[k][2];
    float *src = malloc(sizeof(float) * w * h), *got = malloc(sizeof(float) * s * s);
    double *want = malloc(sizeof(double) * s * s);
    tu_seed(k + 1);
    for (int i = 0; i < w * h; i++) src[i] = (float)tu_uniform(-1000, 1000);
    mg_image_resize_area(src, w, h, s, got);
    reference_resize(src, w, h, s, want);
    double worst = 0.0;
    for (int i = 0; i < s * s; i++) worst = fmax(worst, fabs(got[i] - want[i]) / (1e-3 + fabs(want[i])));
    tu_check(worst < 1e-6, "%dx%d -> %d: relative error %g against the supersampling reference", w, h, s, worst);
    free(src), free(got), free(want);
  }
}

/* ---- JPEG and format detection ---- */

static void test_jpeg(void) {
  enum { W = 21, H = 13 };
  uint8_t gray[W * H], rgb[W * H * 3];
  pattern(gray, W, H, 1);
  char err[512] = "";
  mg_image img;
  for (int progressive = 0; progressive < 2; progressive++) {
    const char *name = progressive ? "progressive.jpg" : "baseline.jpg";
    write_jpeg(name, gray, W, H, 1, progressive, NULL);
    mg_status st = mg_jpeg_read(path_of(name), &img, err, sizeof err);
    if (!tu_check(st == MG_OK && img.width == W && img.height == H, "%s: status %d %dx%d (%s)", name, (int)st,
                  img.width, img.height, err))
      continue;
    int worst = 0;
    for (int i = 0; i < W * H; i++) worst = abs(img.pixels[i] - gray[i]) > worst ? abs(img.pixels[i] - gray[i]) : worst;
    tu_check(worst <= 3, "%s: a pixel differs by %d from what was written (quality 100)", name, worst);
    tu_check(!img.synthetic, "%s: no synthetic marker was written", name);
    mg_image_free(&img);
  }

  /* flat colours: gray = 0.2126 R + 0.7152 G + 0.0722 B, as for PNGs */
  const uint8_t colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {40, 160, 220}};
  for (int c = 0; c < 4; c++) {
    for (int i = 0; i < W * H; i++) memcpy(rgb + 3 * i, colours[c], 3);
    write_jpeg("colour.jpg", rgb, W, H, 3, false, NULL);
    double want = 0.2126 * colours[c][0] + 0.7152 * colours[c][1] + 0.0722 * colours[c][2];
    if (!tu_check(mg_jpeg_read(path_of("colour.jpg"), &img, err, sizeof err) == MG_OK, "colour: %s", err)) continue;
    tu_check(fabs(img.pixels[W * H / 2] - want) <= 2.5, "colour (%d,%d,%d): gray %d, expected %.1f", colours[c][0],
             colours[c][1], colours[c][2], img.pixels[W * H / 2], want);
    mg_image_free(&img);
  }

  uint8_t cmyk[W * H * 4];
  memset(cmyk, 100, sizeof cmyk);
  write_jpeg("cmyk.jpg", cmyk, W, H, 4, false, NULL);
  tu_check(mg_jpeg_read(path_of("cmyk.jpg"), &img, err, sizeof err) == MG_ERR_UNSUPPORTED &&
               strstr(err, "cmyk.jpg") && strstr(err, "CMYK") && !img.pixels, "CMYK JPEG: %s", err);

  write_jpeg("marked.jpg", gray, W, H, 1, false, MG_PNG_SYNTHETIC_TEXT);
  tu_check(mg_jpeg_read(path_of("marked.jpg"), &img, err, sizeof err) == MG_OK && img.synthetic,
           "a COM marker with the synthetic text must be reported: %s", err);
  mg_image_free(&img);

  /* truncated in the middle of the image data: an error naming the file, not a half-gray image */
  enum { BW = 64, BH = 64 };
  uint8_t big[BW * BH];
  pattern(big, BW, BH, 2);
  for (int progressive = 0; progressive < 2; progressive++) {
    write_jpeg("cut.jpg", big, BW, BH, 1, progressive, NULL);
    truncate_half("cut.jpg");
    mg_status st = mg_jpeg_read(path_of("cut.jpg"), &img, err, sizeof err);
    tu_check(st == MG_ERR_FORMAT && strstr(err, path_of("cut.jpg")) && strstr(err, "corrupt JPEG") && !img.pixels,
             "truncated %s JPEG: status %d (%s)", progressive ? "progressive" : "baseline", (int)st, err);
  }
  /* garbage after a JPEG signature */
  unsigned char junk[300] = {0xff, 0xd8, 0xff, 0xe0};
  for (int i = 4; i < 300; i++) junk[i] = (unsigned char)(i * 77);
  write_bytes("junk.jpg", junk, sizeof junk);
  tu_check(mg_jpeg_read(path_of("junk.jpg"), &img, err, sizeof err) == MG_ERR_FORMAT && strstr(err, "junk.jpg"),
           "garbage JPEG: %s", err);
  /* a side over 16384 is refused after the header, before any pixel is decoded */
  enum { WIDE = 16400 };
  uint8_t *wide = calloc(WIDE * 8, 1);
  write_jpeg("wide.jpg", wide, WIDE, 8, 1, false, NULL);
  free(wide);
  tu_check(mg_jpeg_read(path_of("wide.jpg"), &img, err, sizeof err) == MG_ERR_FORMAT && strstr(err, "16384"),
           "oversized JPEG: %s", err);
  tu_check(mg_jpeg_read(path_of("missing.jpg"), &img, err, sizeof err) == MG_ERR_IO && strstr(err, "missing.jpg"),
           "missing JPEG: %s", err);
}

static void test_image_read(void) {
  enum { W = 6, H = 4 };
  uint8_t gray[W * H];
  pattern(gray, W, H, 3);
  char err[512] = "";
  mg_image_f f;
  /* chosen by content: a JPEG named .png and a PNG named .jpg are both read */
  write_jpeg("really-a-jpeg.png", gray, W, H, 1, false, NULL);
  write_png("really-a-png.jpg", gray, W, H);
  tu_check(mg_image_read(path_of("really-a-jpeg.png"), &f, err, sizeof err) == MG_OK && f.width == W &&
               f.height == H && fabsf(f.pixels[5] - gray[5]) <= 3, "JPEG named .png: %s", err);
  mg_image_f_free(&f);
  if (tu_check(mg_image_read(path_of("really-a-png.jpg"), &f, err, sizeof err) == MG_OK, "PNG named .jpg: %s", err)) {
    int bad = 0;
    for (int i = 0; i < W * H; i++) bad += f.pixels[i] != (float)gray[i];
    tu_check(bad == 0 && !f.synthetic, "PNG as floats: %d pixels differ", bad);
  }
  mg_image_f_free(&f);

  /* NIfTI: one slice reads as an image (with the synthetic marker), more slices are refused */
  float values[W * H * 3];
  for (int i = 0; i < W * H * 3; i++) values[i] = (float)(i * 0.25 - 7.0);
  const int one[3] = {W, H, 1}, three[3] = {W, H, 3};
  const float pixdim[3] = {1, 1, 1};
  tu_check(mg_nifti_write(path_of("slice.nii.gz"), values, one, pixdim, &synthetic_float, err, sizeof err) == MG_OK,
           "%s", err);
  tu_check(mg_nifti_write(path_of("volume.nii"), values, three, pixdim, NULL, err, sizeof err) == MG_OK, "%s", err);
  if (tu_check(mg_image_read(path_of("slice.nii.gz"), &f, err, sizeof err) == MG_OK, "2D NIfTI: %s", err)) {
    int bad = f.width == W && f.height == H ? 0 : 1; /* NIfTI's y points up: row r of the image is y = H-1-r */
    for (int r = 0; !bad && r < H; r++) bad += memcmp(f.pixels + r * W, values + (H - 1 - r) * W, sizeof(float) * W) != 0;
    tu_check(!bad, "2D NIfTI values differ (or rows are not flipped)");
    tu_check(f.synthetic, "a NIfTI written as synthetic must read as synthetic");
  }
  mg_image_f_free(&f);
  /* Rows that run toward -y (ITK's LPS identity, as `medgen sample` writes) are already top row first: the image
   * reads back as it was written, by the sform and, without one, by the qform's half turn about z. */
  const mg_nifti_write_options lps = {.datatype = MG_NIFTI_FLOAT32, .synthetic = true, .patient_lps = true};
  tu_check(mg_nifti_write(path_of("lps.nii"), values, one, pixdim, &lps, err, sizeof err) == MG_OK, "%s", err);
  for (int qform_only = 0; qform_only < 2; qform_only++) {
    if (qform_only) { /* sform_code (bytes 254-255) 0 */
      FILE *h = fopen(path_of("lps.nii"), "r+b");
      const int16_t zero = 0;
      tu_check(h && fseek(h, 254, SEEK_SET) == 0 && fwrite(&zero, 2, 1, h) == 1, "cannot patch lps.nii");
      if (h) fclose(h);
    }
    if (tu_check(mg_image_read(path_of("lps.nii"), &f, err, sizeof err) == MG_OK, "LPS NIfTI: %s", err))
      tu_check(f.width == W && f.height == H && memcmp(f.pixels, values, sizeof(float) * W * H) == 0,
               "a NIfTI with rows toward -y (%s) should read in storage order", qform_only ? "qform" : "sform");
    mg_image_f_free(&f);
  }
  /* A coronal slice (its rows along z by the sform: srow_y[1] at byte 300 zero, srow_z[1] at 316 +-1): top row
   * superior, so rows toward -z read in storage order and rows toward +z reversed. */
  for (int toward_plus_z = 0; toward_plus_z < 2; toward_plus_z++) {
    tu_check(mg_nifti_write(path_of("coronal.nii"), values, one, pixdim, &lps, err, sizeof err) == MG_OK, "%s", err);
    FILE *h = fopen(path_of("coronal.nii"), "r+b");
    const float zero = 0, row_z = toward_plus_z ? 1.0f : -1.0f;
    tu_check(h && fseek(h, 300, SEEK_SET) == 0 && fwrite(&zero, 4, 1, h) == 1 && fseek(h, 316, SEEK_SET) == 0 &&
                 fwrite(&row_z, 4, 1, h) == 1, "cannot patch coronal.nii");
    if (h) fclose(h);
    if (tu_check(mg_image_read(path_of("coronal.nii"), &f, err, sizeof err) == MG_OK, "coronal NIfTI: %s", err)) {
      int bad = f.width == W && f.height == H ? 0 : 1;
      for (int r = 0; !bad && r < H; r++)
        bad += memcmp(f.pixels + r * W, values + (toward_plus_z ? H - 1 - r : r) * W, sizeof(float) * W) != 0;
      tu_check(!bad, "a coronal NIfTI with rows toward %cz should read %s", toward_plus_z ? '+' : '-',
               toward_plus_z ? "with its rows reversed" : "in storage order");
    }
    mg_image_f_free(&f);
  }
  /* a .nii.gz cut in its voxels (values that do not compress, so that half the file is half the voxels) */
  enum { BIG = 64 };
  static float noise[BIG * BIG];
  tu_seed(7);
  for (int i = 0; i < BIG * BIG; i++) noise[i] = (float)tu_uniform(-1000, 1000);
  const int big[3] = {BIG, BIG, 1};
  tu_check(mg_nifti_write(path_of("cut.nii.gz"), noise, big, pixdim, &lps, err, sizeof err) == MG_OK, "%s", err);
  truncate_half("cut.nii.gz");
  tu_check(mg_image_read(path_of("cut.nii.gz"), &f, err, sizeof err) != MG_OK && strstr(err, "cut.nii.gz") &&
               strstr(err, "truncated") && !f.pixels, "a .nii.gz cut in its voxels: %s", err);
  tu_check(mg_image_read(path_of("volume.nii"), &f, err, sizeof err) == MG_ERR_UNSUPPORTED &&
               strstr(err, "volume.nii") && strstr(err, "not a 2D image: a 6x4x3 volume") && !f.pixels,
           "3-slice NIfTI: %s", err);

  write_bytes("notes.bin", "hello, not an image", 19);
  tu_check(mg_image_read(path_of("notes.bin"), &f, err, sizeof err) == MG_ERR_FORMAT &&
               strstr(err, path_of("notes.bin")) && strstr(err, "unknown image format"), "unknown file: %s", err);
  write_bytes("empty.png", "", 0);
  tu_check(mg_image_read(path_of("empty.png"), &f, err, sizeof err) == MG_ERR_FORMAT && strstr(err, "empty.png"),
           "empty file: %s", err);
}

/* ---- NIfTI writing ---- */

static int16_t hdr_i16(const unsigned char *h, int off) {
  int16_t v;
  memcpy(&v, h + off, 2);
  return v;
}
static float hdr_f32(const unsigned char *h, int off) {
  float v;
  memcpy(&v, h + off, 4);
  return v;
}

static void test_nifti_write(void) {
  const int dim[3] = {7, 5, 3};
  const float pixdim[3] = {0.5f, 0.75f, 2.0f};
  enum { N = 7 * 5 * 3 };
  float data[N];
  tu_seed(42);
  for (int i = 0; i < N; i++) data[i] = (float)tu_uniform(-3000, 3000);
  data[3] = 1e-30f, data[4] = -0.0f;
  char err[512] = "";
  for (int gz = 0; gz < 2; gz++) {
    for (int synthetic = 0; synthetic < 2; synthetic++) {
      const char *path = path_of(gz ? "out.nii.gz" : "out.nii");
      if (!tu_check(mg_nifti_write(path, data, dim, pixdim, synthetic ? &synthetic_float : NULL, err, sizeof err) ==
                        MG_OK, "write: %s", err))
        continue;
      /* the raw bytes, decompressed independently of the reader */
      unsigned char raw[352 + N * 4 + 16];
      gzFile g = gzopen(path, "rb");
      int got = g ? gzread(g, raw, sizeof raw) : -1;
      if (g) gzclose(g);
      FILE *f = fopen(path, "rb");
      unsigned char magic[2] = {0, 0};
      if (f) {
        tu_check(fread(magic, 1, 2, f) == 2, "cannot read %s", path);
        fclose(f);
      }
      tu_check((magic[0] == 0x1f && magic[1] == 0x8b) == (bool)gz, "%s: gzip data exactly when named .nii.gz", path);
      if (!tu_check(got == 352 + N * 4, "%s: %d bytes, expected %d", path, got, 352 + N * 4)) continue;
      int32_t sizeof_hdr;
      memcpy(&sizeof_hdr, raw, 4);
      tu_check(sizeof_hdr == 348 && memcmp(raw + 344, "n+1", 4) == 0, "%s: sizeof_hdr / magic", path);
      tu_check(hdr_i16(raw, 40) == 3 && hdr_i16(raw, 42) == 7 && hdr_i16(raw, 44) == 5 && hdr_i16(raw, 46) == 3,
               "%s: dim", path);
      tu_check(hdr_i16(raw, 70) == 16 && hdr_i16(raw, 72) == 32, "%s: datatype float32", path);
      tu_check(hdr_f32(raw, 108) == 352.0f && hdr_f32(raw, 112) == 1.0f && hdr_f32(raw, 116) == 0.0f,
               "%s: vox_offset / scaling", path);
      tu_check(hdr_f32(raw, 80) == 0.5f && hdr_f32(raw, 84) == 0.75f && hdr_f32(raw, 88) == 2.0f, "%s: pixdim", path);
      tu_check(hdr_i16(raw, 252) == 1 && hdr_f32(raw, 256) == 0 && hdr_f32(raw, 260) == 0 && hdr_f32(raw, 264) == 0,
               "%s: qform is not the identity rotation", path);
      const float srow[12] = {0.5f, 0, 0, 0, 0, 0.75f, 0, 0, 0, 0, 2.0f, 0};
      tu_check(hdr_i16(raw, 254) == 1 && memcmp(raw + 280, srow, sizeof srow) == 0, "%s: sform", path);
      char descrip[81] = "", intent[17] = "";
      memcpy(descrip, raw + 148, 80);
      memcpy(intent, raw + 328, 16);
      tu_check((strstr(descrip, MG_NIFTI_SYNTHETIC_DESCRIP) != NULL) == (bool)synthetic &&
                   (strcmp(intent, "MedGenSynth") == 0) == (bool)synthetic,
               "%s: synthetic %d, descrip \"%s\", intent \"%s\"", path, synthetic, descrip, intent);
      tu_check(memcmp(raw + 352, data, sizeof data) == 0, "%s: voxel bytes differ", path);

      mg_volume v;
      if (!tu_check(mg_nifti_read(path, &v, err, sizeof err) == MG_OK, "read back: %s", err)) continue;
      int bad = 0; /* compared as values: the reader turns -0 into 0 */
      for (int i = 0; i < N; i++) bad += v.data[i] != data[i];
      tu_check(v.dim[0] == 7 && v.dim[1] == 5 && v.dim[2] == 3 && v.pixdim[1] == 0.75f && bad == 0,
               "%s: round trip differs (%d values)", path, bad);
      mg_volume_free(&v);
    }
  }
  /* ITK's LPS identity and a comment extension: extender {1,0,0,0}, esize 8 + 28 (the text and its NUL) rounded
   * up to 48, ecode 6, the text and zero padding, the voxels after it */
  const char comment[] = "MedGen=synthetic\nkey=value\n";
  const mg_nifti_write_options lps = {.datatype = MG_NIFTI_FLOAT32, .synthetic = true, .patient_lps = true,
                                      .comment = comment};
  if (tu_check(mg_nifti_write(path_of("lps.nii.gz"), data, dim, pixdim, &lps, err, sizeof err) == MG_OK, "%s", err)) {
    unsigned char raw[400 + N * 4 + 16];
    gzFile g = gzopen(path_of("lps.nii.gz"), "rb");
    const int got = g ? gzread(g, raw, sizeof raw) : -1;
    if (g) gzclose(g);
    const float srow[12] = {-0.5f, 0, 0, 0, 0, -0.75f, 0, 0, 0, 0, 2.0f, 0};
    const unsigned char extender[4] = {1, 0, 0, 0}, padding[12] = {0};
    int32_t esize = 0, ecode = 0;
    memcpy(&esize, raw + 352, 4);
    memcpy(&ecode, raw + 356, 4);
    tu_check(got == 400 + N * 4 && memcmp(raw + 348, extender, 4) == 0 && esize == 48 && ecode == 6 &&
                 memcmp(raw + 360, comment, sizeof comment) == 0 &&
                 memcmp(raw + 360 + sizeof comment, padding, sizeof padding) == 0 &&
                 hdr_f32(raw, 108) == 400.0f && memcmp(raw + 400, data, sizeof data) == 0,
             "lps.nii.gz: the comment extension or the voxels after it are wrong (%d bytes, esize %d)", got, esize);
    tu_check(hdr_f32(raw, 256) == 0 && hdr_f32(raw, 260) == 0 && hdr_f32(raw, 264) == 1 && hdr_f32(raw, 76) == 1 &&
                 memcmp(raw + 280, srow, sizeof srow) == 0 && hdr_i16(raw, 252) == 1 && hdr_i16(raw, 254) == 1,
             "lps.nii.gz: qform and sform should be ITK's LPS identity");
    mg_volume v;
    if (tu_check(mg_nifti_read(path_of("lps.nii.gz"), &v, err, sizeof err) == MG_OK, "read back: %s", err)) {
      int bad = 0;
      for (int i = 0; i < N; i++) bad += v.data[i] != data[i];
      tu_check(bad == 0, "lps.nii.gz: %d values differ after the extension", bad);
      mg_volume_free(&v);
    }
  }
  tu_check(mg_nifti_write(path_of("out.img"), data, dim, pixdim, &synthetic_float, err, sizeof err) ==
               MG_ERR_INVALID_ARGUMENT && strstr(err, ".nii.gz"), "bad extension: %s", err);
  const int zero[3] = {7, 0, 1};
  tu_check(mg_nifti_write(path_of("zero.nii"), data, zero, pixdim, &synthetic_float, err, sizeof err) ==
               MG_ERR_INVALID_ARGUMENT && strstr(err, "dim[1]"), "zero dim: %s", err);
  const float bad_pixdim[3] = {1, NAN, 1};
  tu_check(mg_nifti_write(path_of("nan.nii"), data, dim, bad_pixdim, &synthetic_float, err, sizeof err) ==
               MG_ERR_INVALID_ARGUMENT, "NaN voxel size: %s", err);
  tu_check(mg_nifti_write(path_of("no-such-folder/x.nii.gz"), data, dim, pixdim, &synthetic_float, err, sizeof err) ==
               MG_ERR_IO && strstr(err, "no-such-folder"), "unwritable path: %s", err);
}

/* ---- PNG grids ---- */

static void test_grid(void) {
  enum { S = 4, COUNT = 5, COLS = 3 };
  float images[COUNT * S * S];
  for (int i = 0; i < COUNT * S * S; i++) images[i] = (float)((i % 23) * 0.2 - 2.2); /* -2.2 .. 2.2, clamped */
  char err[512] = "";
  const char *path = path_of("grid.png");
  tu_check(mg_png_write_grid(path, images, COUNT, S, COLS, -1.0, 1.0, true, err, sizeof err) == MG_OK, "grid: %s",
           err);
  mg_image img;
  if (tu_check(mg_png_read(path, &img, err, sizeof err) == MG_OK, "grid read: %s", err)) {
    const int w = COLS * S + (COLS - 1) * 2, h = 2 * S + 2;
    tu_check(img.width == w && img.height == h && img.synthetic, "grid %dx%d (expected %dx%d), synthetic %d",
             img.width, img.height, w, h, img.synthetic);
    int bad = 0;
    for (int y = 0; img.width == w && y < h; y++)
      for (int x = 0; x < w; x++) {
        const int col = x / (S + 2), row = y / (S + 2), tx = x % (S + 2), ty = y % (S + 2), i = row * COLS + col;
        double want = 0.0; /* gaps and the empty sixth cell are black */
        if (tx < S && ty < S && i < COUNT)
          want = fmin(255.0, fmax(0.0, round((images[(i * S + ty) * S + tx] + 1.0) / 2.0 * 255.0)));
        bad += fabs(img.pixels[y * w + x] - want) > 0.5;
      }
    tu_check(bad == 0, "grid: %d pixels differ from the tiles mapped from [-1, 1]", bad);
    mg_image_free(&img);
  }
  /* fewer images than columns: the grid is only as wide as the images */
  tu_check(mg_png_write_grid(path, images, 2, S, 8, -1.0, 1.0, false, err, sizeof err) == MG_OK, "%s", err);
  tu_check(mg_png_read(path, &img, err, sizeof err) == MG_OK && img.width == 2 * S + 2 && img.height == S &&
               !img.synthetic, "two-image grid %dx%d", img.width, img.height);
  mg_image_free(&img);
  tu_check(mg_png_write_grid(path, images, COUNT, S, COLS, 1.0, 1.0, true, err, sizeof err) ==
               MG_ERR_INVALID_ARGUMENT, "empty range: %s", err);
}

/* ---- image folders ---- */

static float norm8(double v) { return (float)((v - 127.5) / 127.5); }

/* Reads a folder that must fail: status want, the message names `names` (the file or folder at fault) and holds
 * `needle`, and out is left zeroed. */
static void check_folder_fails(const char *label, const char *folder, int size, mg_status want, const char *names,
                               const char *needle) {
  mg_image_folder f;
  char err[1024] = "";
  mg_status st = mg_image_folder_read(path_of(folder), size, 0, NULL, &f, err, sizeof err);
  tu_check(st == want, "%s: status %d, expected %d (%s)", label, (int)st, (int)want, err);
  tu_check(strstr(err, path_of(names)) && strstr(err, needle), "%s: message \"%s\" lacks \"%s\" or \"%s\"", label,
           err, path_of(names), needle);
  tu_check(!f.images && !f.labels && !f.class_names && !f.class_counts && f.data.count == 0, "%s: out not zeroed",
           label);
}

static void test_folder(void) {
  enum { S = 8 };
  uint8_t p[6][S * S], big[16 * 16];
  for (int i = 0; i < 6; i++) pattern(p[i], S, S, 10 + i);
  pattern(big, 16, 16, 20);
  /* strcmp order puts "Zeta" before "alpha" and "CXR" before "ChestCT" */
  make_dir("set");
  make_dir("set/alpha");
  make_dir("set/Zeta");
  make_dir("set/CXR");
  make_dir("set/.cache"); /* hidden folders are skipped */
  write_png("set/alpha/b.png", p[0], S, S);
  write_png("set/alpha/a.png", p[1], S, S);
  write_png("set/alpha/.hidden.png", p[2], S, S);
  write_bytes("set/alpha/notes.md", "# notes", 7);
  write_bytes("set/README", "about", 5);
  write_jpeg("set/Zeta/z.jpeg", p[2], S, S, 1, false, NULL);
  write_png("set/CXR/x-big.png", big, 16, 16); /* another size: resized by area */
  write_png("set/CXR/c.png", p[3], S, S);
  write_bytes("set/CXR/labels.csv", "a,b\n", 4);
  write_bytes("set/.cache/junk.bin", "x", 1);

  mg_image_folder f;
  char err[1024] = "";
  if (tu_check(mg_image_folder_read(path_of("set"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "folder: %s", err)) {
    const mg_dataset *d = &f.data;
    tu_check(d->count == 5 && d->size == S && d->channels == 1 && d->num_classes == 3, "folder: %d images of %d, "
             "%d classes", d->count, d->size, d->num_classes);
    tu_check(d->norm_offset == 127.5 && d->norm_scale == 127.5, "8-bit normalization %g %g", d->norm_offset,
             d->norm_scale);
    const char *names[3] = {"CXR", "Zeta", "alpha"};
    const int counts[3] = {2, 1, 2}, labels[5] = {0, 0, 1, 2, 2};
    for (int c = 0; c < 3 && d->num_classes == 3; c++)
      tu_check(strcmp(d->class_names[c], names[c]) == 0 && f.class_counts[c] == counts[c], "class %d: %s (%d)", c,
               d->class_names[c], f.class_counts[c]);
    for (int i = 0; i < 5 && d->count == 5; i++) tu_check(d->labels[i] == labels[i], "label %d: %d", i, d->labels[i]);
    if (d->count == 5) {
      /* order: CXR/c.png, CXR/x-big.png, Zeta/z.jpeg, alpha/a.png, alpha/b.png */
      float src[16 * 16];
      double want[S * S];
      for (int i = 0; i < 256; i++) src[i] = big[i];
      reference_resize(src, 16, 16, S, want);
      const uint8_t *exact[5] = {p[3], NULL, NULL, p[1], p[0]};
      double worst_exact = 0, worst_jpeg = 0;
      for (int j = 0; j < S * S; j++) {
        worst_exact = fmax(worst_exact, fabs(d->images[S * S + j] - norm8(want[j])));
        for (int i = 0; i < 5; i++)
          if (exact[i]) worst_exact = fmax(worst_exact, fabs(d->images[i * S * S + j] - norm8(exact[i][j])));
        worst_jpeg = fmax(worst_jpeg, fabs(d->images[2 * S * S + j] - norm8(p[2][j])));
      }
      tu_check(worst_exact < 1e-6, "PNG pixels (and the resized one) off by %g", worst_exact);
      tu_check(worst_jpeg <= 3.0 / 127.5, "JPEG pixels off by %g (more than 3 levels)", worst_jpeg * 127.5);
    }
    mg_image_folder_free(&f);
  }

  /* a chosen size resizes everything; max_per_class keeps the first files by name */
  if (tu_check(mg_image_folder_read(path_of("set"), 4, 1, NULL, &f, err, sizeof err) == MG_OK, "size 4: %s", err)) {
    tu_check(f.data.count == 3 && f.data.size == 4 && f.class_counts[2] == 1 && f.data.labels[2] == 2,
             "size 4, one per class: %d images", f.data.count);
    float src[S * S];
    double want[16];
    for (int i = 0; i < S * S; i++) src[i] = p[1][i]; /* alpha's first file is a.png */
    reference_resize(src, S, S, 4, want);
    double worst = 0;
    for (int j = 0; j < 16 && f.data.count == 3; j++)
      worst = fmax(worst, fabs(f.data.images[2 * 16 + j] - norm8(want[j])));
    tu_check(worst < 1e-6, "alpha/a.png at 4x4 off by %g", worst);
    mg_image_folder_free(&f);
  }

  /* unlabelled: images directly in the folder */
  make_dir("flat");
  write_png("flat/1.png", p[4], S, S);
  write_png("flat/2.png", p[5], S, S);
  write_bytes("flat/info.json", "{}", 2);
  if (tu_check(mg_image_folder_read(path_of("flat"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "flat: %s", err)) {
    tu_check(f.data.count == 2 && !f.data.labels && !f.labels && f.data.num_classes == 0 && !f.data.class_names,
             "flat folder must be unlabelled");
    tu_check(f.data.images[S * S + 7] == norm8(p[5][7]), "flat folder order");
    mg_image_folder_free(&f);
  }

  /* float data (NIfTI) scales by the folder's range; mixed with 8-bit files, the range covers them too */
  make_dir("nifti");
  float a[S * S], b[S * S];
  for (int i = 0; i < S * S; i++) a[i] = (float)(i % 9) - 3.0f, b[i] = 5.0f - (float)(i % 5); /* -3 .. 5 */
  const int dim[3] = {S, S, 1};
  const float pixdim[3] = {1, 1, 1};
  tu_check(mg_nifti_write(path_of("nifti/a.nii"), a, dim, pixdim, NULL, err, sizeof err) == MG_OK, "%s", err);
  tu_check(mg_nifti_write(path_of("nifti/b.nii.gz"), b, dim, pixdim, NULL, err, sizeof err) == MG_OK, "%s", err);
  if (tu_check(mg_image_folder_read(path_of("nifti"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "nifti: %s", err)) {
    tu_check(f.data.norm_offset == 1.0 && f.data.norm_scale == 4.0, "NIfTI range: offset %g scale %g",
             f.data.norm_offset, f.data.norm_scale);
    double worst = 0;
    for (int i = 0; i < S * S; i++) {
      int flipped = (S - 1 - i / S) * S + i % S; /* NIfTI rows run bottom-up */
      worst = fmax(worst, fmax(fabs(f.data.images[i] - (a[flipped] - 1.0) / 4.0),
                               fabs(f.data.images[S * S + i] - (b[flipped] - 1.0) / 4.0)));
    }
    tu_check(worst < 1e-6, "NIfTI normalization off by %g", worst);
    mg_image_folder_free(&f);
  }
  write_png("nifti/c.png", p[0], S, S);
  uint8_t hi = 0;
  for (int i = 0; i < S * S; i++) hi = p[0][i] > hi ? p[0][i] : hi;
  if (tu_check(mg_image_folder_read(path_of("nifti"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "mixed: %s", err)) {
    tu_check(f.data.norm_offset == (hi - 3.0) / 2 && f.data.norm_scale == (hi + 3.0) / 2,
             "mixed range: offset %g scale %g, expected the range -3 .. %d", f.data.norm_offset, f.data.norm_scale,
             hi);
    mg_image_folder_free(&f);
  }
  make_dir("constant");
  float seven[S * S];
  for (int i = 0; i < S * S; i++) seven[i] = 7.0f;
  tu_check(mg_nifti_write(path_of("constant/a.nii"), seven, dim, pixdim, NULL, err, sizeof err) == MG_OK, "%s", err);
  check_folder_fails("constant images", "constant", 0, MG_ERR_FORMAT, "constant", "constant");

  /* layout and content errors, each naming the file or folder at fault */
  make_dir("unknown");
  make_dir("unknown/A");
  write_png("unknown/A/1.png", p[0], S, S);
  write_bytes("unknown/A/2.dat", "\x01\x02\x03\x04 data", 9);
  check_folder_fails("unknown file", "unknown", 0, MG_ERR_FORMAT, "unknown/A/2.dat", "unknown image format");

  make_dir("emptyclass");
  make_dir("emptyclass/A");
  make_dir("emptyclass/B");
  write_png("emptyclass/A/1.png", p[0], S, S);
  write_bytes("emptyclass/B/README.txt", "nothing yet", 11);
  write_png("emptyclass/B/.hidden.png", p[0], S, S);
  check_folder_fails("empty class", "emptyclass", 0, MG_ERR_FORMAT, "emptyclass/B", "holds no images");

  make_dir("empty");
  write_bytes("empty/.DS_Store", "x", 1);
  check_folder_fails("empty folder", "empty", 0, MG_ERR_FORMAT, "empty", "no images");

  make_dir("mixed");
  make_dir("mixed/A");
  write_png("mixed/A/1.png", p[0], S, S);
  write_png("mixed/loose.png", p[1], S, S);
  check_folder_fails("images beside class folders", "mixed", 0, MG_ERR_FORMAT, "mixed", "loose.png");

  make_dir("nested");
  make_dir("nested/A");
  make_dir("nested/A/deeper");
  write_png("nested/A/deeper/1.png", p[0], S, S);
  check_folder_fails("nested folders", "nested", 0, MG_ERR_FORMAT, "nested/A", "deeper");

  make_dir("oblong");
  uint8_t oblong[S * 5];
  pattern(oblong, S, 5, 4);
  write_png("oblong/1.png", oblong, S, 5);
  check_folder_fails("non-square without a size", "oblong", 0, MG_ERR_INVALID_ARGUMENT, "oblong/1.png", "--size");
  tu_check(mg_image_folder_read(path_of("oblong"), 6, 0, NULL, &f, err, sizeof err) == MG_OK && f.data.size == 6,
           "non-square with a size: %s", err);
  mg_image_folder_free(&f);

  check_folder_fails("missing folder", "no-such-folder", 0, MG_ERR_IO, "no-such-folder", "cannot open");

  /* two corrupt JPEGs among many images: the first by name is reported, whatever the thread count, and the
   * images read are the same for any thread count */
  make_dir("corrupt");
  make_dir("corrupt/A");
  enum { MANY = 48 };
  uint8_t jp[64 * 64];
  for (int i = 0; i < MANY; i++) {
    char name[64];
    snprintf(name, sizeof name, "corrupt/A/%02d.jpeg", i);
    pattern(jp, 64, 64, i);
    write_jpeg(name, jp, 64, 64, 1, i % 2, NULL);
  }
  mg_image_folder one, four;
  omp_set_num_threads(1);
  mg_status st1 = mg_image_folder_read(path_of("corrupt"), 16, 0, NULL, &one, err, sizeof err);
  omp_set_num_threads(4);
  mg_status st4 = mg_image_folder_read(path_of("corrupt"), 16, 0, NULL, &four, err, sizeof err);
  tu_check(st1 == MG_OK && st4 == MG_OK && one.data.count == MANY && four.data.count == MANY &&
               memcmp(one.images, four.images, sizeof(float) * MANY * 16 * 16) == 0,
           "1 and 4 threads must read the same images (%s)", err);
  mg_image_folder_free(&one);
  mg_image_folder_free(&four);
  /* 15 ends the first block of files a thread takes and 16 starts the next, so with threads 16 tends to fail
   * first */
  truncate_half("corrupt/A/16.jpeg");
  truncate_half("corrupt/A/15.jpeg");
  for (int threads = 1; threads <= 4; threads += 3) {
    omp_set_num_threads(threads);
    check_folder_fails("corrupt JPEG", "corrupt", 0, MG_ERR_FORMAT, "corrupt/A/15.jpeg", "corrupt JPEG");
  }
}

/* ---- the fallback reader: files mg_image_read does not know ---- */

/* A stand-in for mg_itk_image_read: files holding "STUB <bits> <value>" read as 4x4 images of that value, 8-bit
 * when bits is 8; anything else is refused with this reader's own message. Counts its calls. */
static int stub_calls;
static mg_status stub_read(const char *path, mg_image_f *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
#pragma omp atomic
  stub_calls++;
  FILE *f = fopen(path, "rb");
  int bits = 0;
  float value = 0;
  bool ok = f && fscanf(f, "STUB %d %f", &bits, &value) == 2;
  if (f) fclose(f);
  if (!ok) return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "not a stub file");
  out->width = out->height = 4;
  out->pixels = malloc(16 * sizeof *out->pixels);
  if (!out->pixels) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  for (int i = 0; i < 16; i++) out->pixels[i] = value;
  out->eight_bit = bits == 8;
  return MG_OK;
}

static void test_folder_fallback(void) {
  uint8_t p[4 * 4];
  for (int i = 0; i < 16; i++) p[i] = (uint8_t)(10 + 10 * i); /* 10..160 */
  make_dir("hook");
  make_dir("hook/a");
  write_png("hook/a/0.png", p, 4, 4);
  write_bytes("hook/a/scan", "STUB 16 1000", 12); /* no extension, as DICOM files often come */
  mg_image_folder f;
  char err[1024] = "";
  /* mg_image_read says which files are 8-bit */
  mg_image_f img;
  if (tu_check(mg_image_read(path_of("hook/a/0.png"), &img, err, sizeof err) == MG_OK, "%s", err))
    tu_check(img.eight_bit, "a PNG must read as eight_bit");
  mg_image_f_free(&img);
  const int one[3] = {4, 4, 1};
  const float pixdim[3] = {1, 1, 1};
  const float values[16] = {0};
  const mg_nifti_write_options uint8_marked = {.datatype = MG_NIFTI_UINT8, .synthetic = true, .fields = "test"};
  tu_check(mg_nifti_write(path_of("uint8.nii"), values, one, pixdim, &uint8_marked, err, sizeof err) == MG_OK, "%s",
           err);
  if (tu_check(mg_image_read(path_of("uint8.nii"), &img, err, sizeof err) == MG_OK, "%s", err))
    tu_check(!img.eight_bit, "a NIfTI, even uint8, keeps the folder-range rule (not eight_bit)");
  mg_image_f_free(&img);

  /* without a fallback the unknown file is refused by name; with one it is read, and its 16-bit data scales the
   * folder by the range (10..1000) */
  check_folder_fails("no fallback", "hook", 4, MG_ERR_FORMAT, "hook/a/scan", "unknown image format");
  stub_calls = 0;
  if (tu_check(mg_image_folder_read(path_of("hook"), 4, 0, stub_read, &f, err, sizeof err) == MG_OK, "%s", err)) {
    tu_check(f.data.count == 2 && f.data.norm_offset == 505.0 && f.data.norm_scale == 495.0,
             "PNG + 16-bit fallback image: %d images, offset %g scale %g (want 2, 505, 495)", f.data.count,
             f.data.norm_offset, f.data.norm_scale);
    tu_check(f.images[16] == 1.0f && f.images[0] == -1.0f, "the fallback image should read as 1, the PNG's 10 as -1");
  }
  mg_image_folder_free(&f);
  tu_check(stub_calls == 1, "only the unknown file goes to the fallback (%d calls)", stub_calls);
  /* an 8-bit fallback image keeps the fixed 0..255 scaling */
  write_bytes("hook/a/scan", "STUB 8 200", 10);
  if (tu_check(mg_image_folder_read(path_of("hook"), 4, 0, stub_read, &f, err, sizeof err) == MG_OK, "%s", err))
    tu_check(f.data.norm_offset == 127.5 && f.data.norm_scale == 127.5 && f.images[16] == norm8(200),
             "PNG + 8-bit fallback image: offset %g scale %g", f.data.norm_offset, f.data.norm_scale);
  mg_image_folder_free(&f);

  /* the fallback's refusal names the file; a corrupt PNG stays the PNG reader's error, never the fallback's */
  write_bytes("hook/a/junk", "not an image", 12);
  stub_calls = 0;
  tu_check(mg_image_folder_read(path_of("hook"), 4, 0, stub_read, &f, err, sizeof err) == MG_ERR_FORMAT &&
               strstr(err, path_of("hook/a/junk")) && strstr(err, "not a stub file"), "junk file: %s", err);
  remove(path_of("hook/a/junk"));
  truncate_half("hook/a/0.png");
  stub_calls = 0;
  tu_check(mg_image_folder_read(path_of("hook"), 4, 0, stub_read, &f, err, sizeof err) == MG_ERR_FORMAT &&
               strstr(err, path_of("hook/a/0.png")) && !strstr(err, "stub") && stub_calls == 0,
           "corrupt PNG: %s (%d fallback calls)", err, stub_calls);
}

/* ---- MedNIST, from the shared data ---- */

/* Decodes a JPEG with libjpeg directly, for comparison. */
static bool decode_jpeg(const char *path, uint8_t *pixels, int w, int h) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  struct jpeg_decompress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_decompress(&c);
  jpeg_stdio_src(&c, f);
  jpeg_read_header(&c, TRUE);
  c.out_color_space = JCS_GRAYSCALE;
  jpeg_start_decompress(&c);
  bool ok = (int)c.output_width == w && (int)c.output_height == h;
  while (ok && c.output_scanline < c.output_height) {
    JSAMPROW row = pixels + (size_t)c.output_scanline * w;
    jpeg_read_scanlines(&c, &row, 1);
  }
  if (ok) jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  fclose(f);
  return ok;
}

static int test_mednist(const char *data_dir) {
  char archive[1024], cmd[2048];
  snprintf(archive, sizeof archive, "%s/MedNIST-64.tar.gz", data_dir);
  if (access(archive, R_OK) != 0) {
    fprintf(stderr, "%s is absent\n", archive);
    return tu_skip("MedNIST smoke test needs ../shared/data/MedNIST-64.tar.gz");
  }
  /* three files per class; tar still reads the whole archive (about a second) */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  snprintf(cmd, sizeof cmd, "tar -xzf '%s' -C '%s' --wildcards 'MedNIST/*/00000[0-2].jpeg'", archive, root);
  if (!tu_check(system(cmd) == 0, "cannot extract from %s", archive)) return tu_finish();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("extracted 18 MedNIST files in %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));

  const char *classes[6] = {"AbdomenCT", "BreastMRI", "CXR", "ChestCT", "Hand", "HeadCT"};
  mg_image_folder full, half;
  char err[1024] = "";
  mg_status st = mg_image_folder_read(path_of("MedNIST"), 0, 0, NULL, &full, err, sizeof err);
  if (!tu_check(st == MG_OK, "MedNIST at 64: %s", err)) return tu_finish();
  st = mg_image_folder_read(path_of("MedNIST"), 32, 0, NULL, &half, err, sizeof err);
  if (!tu_check(st == MG_OK, "MedNIST at 32: %s", err)) {
    mg_image_folder_free(&full);
    return tu_finish();
  }
  tu_check(full.data.count == 18 && full.data.size == 64 && full.data.num_classes == 6 && half.data.size == 32 &&
               half.data.count == 18, "MedNIST: %d images of %d, %d classes", full.data.count, full.data.size,
           full.data.num_classes);
  for (int c = 0; c < 6 && full.data.num_classes == 6; c++)
    tu_check(strcmp(full.data.class_names[c], classes[c]) == 0 && full.class_counts[c] == 3 &&
                 full.data.labels[3 * c + 2] == c, "MedNIST class %d: %s", c, full.data.class_names[c]);
  double worst_decode = 0, worst_half = 0;
  for (int i = 0; i < 18 && full.data.count == 18 && half.data.count == 18; i++) {
    char file[512];
    snprintf(file, sizeof file, "MedNIST/%s/%06d.jpeg", classes[i / 3], i % 3);
    uint8_t px[64 * 64];
    if (!tu_check(decode_jpeg(path_of(file), px, 64, 64), "cannot decode %s", file)) continue;
    const float *img = full.data.images + (size_t)i * 64 * 64, *small = half.data.images + (size_t)i * 32 * 32;
    for (int j = 0; j < 64 * 64; j++) worst_decode = fmax(worst_decode, fabs(img[j] - norm8(px[j])));
    for (int y = 0; y < 32; y++)
      for (int x = 0; x < 32; x++) {
        double mean = (px[2 * y * 64 + 2 * x] + px[2 * y * 64 + 2 * x + 1] + px[(2 * y + 1) * 64 + 2 * x] +
                       px[(2 * y + 1) * 64 + 2 * x + 1]) / 4.0;
        worst_half = fmax(worst_half, fabs(small[y * 32 + x] - norm8(mean)));
      }
  }
  tu_check(worst_decode < 1e-6, "MedNIST at 64 differs from libjpeg's own decoding by %g", worst_decode);
  tu_check(worst_half < 1e-6, "MedNIST at 32 differs from 2x2 means by %g", worst_half);
  mg_image_folder_free(&full);
  mg_image_folder_free(&half);
  return tu_finish();
}

/* ---- NIfTI files read by nibabel ---- */

static int test_nibabel(const char *python, const char *script) {
  float values[5 * 4 * 3];
  for (int i = 0; i < 5 * 4 * 3; i++) values[i] = (float)(i * 0.5 - 7.0);
  const int volume[3] = {5, 4, 3}, slice[3] = {5, 4, 1};
  const float pixdim[3] = {0.5f, 0.75f, 2.0f};
  char err[512] = "", cmd[2048];
  tu_check(mg_nifti_write(path_of("volume.nii.gz"), values, volume, pixdim, &synthetic_float, err, sizeof err) == MG_OK,
           "%s", err);
  tu_check(mg_nifti_write(path_of("slice.nii"), values, slice, pixdim, NULL, err, sizeof err) == MG_OK, "%s", err);
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", python, script, root);
  int status = system(cmd);
  if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 77) return tu_skip("nibabel is not installed");
  tu_check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "nibabel disagrees (see above)");
  return tu_finish();
}

/* mg_image_folder_match: a second folder in a reference dataset's terms (class order by name, intensity mapping). */
static void test_folder_match(void) {
  enum { S = 4 };
  uint8_t p[S * S];
  pattern(p, S, S, 7);
  make_dir("match");
  make_dir("match/B");
  write_png("match/B/1.png", p, S, S);
  make_dir("stranger");
  make_dir("stranger/C");
  write_png("stranger/C/1.png", p, S, S);
  const char *names[2] = {"A", "B"};
  const mg_dataset ref = {.count = 0, .channels = 1, .size = S, .num_classes = 2, .class_names = names,
                          .norm_offset = 100, .norm_scale = 50};
  mg_image_folder f;
  char err[1024] = "";
  if (tu_check(mg_image_folder_read(path_of("match"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "match: %s", err)) {
    tu_check(mg_image_folder_match(&f, path_of("match"), &ref, err, sizeof err) == MG_OK, "match: %s", err);
    tu_check(f.labels[0] == 1, "class B is the reference's second class: label %d", f.labels[0]);
    double worst = 0;
    for (int j = 0; j < S * S; j++) worst = fmax(worst, fabs(f.images[j] - (p[j] - 100.0) / 50.0));
    tu_check(worst < 1e-5 && f.data.norm_offset == 100 && f.data.norm_scale == 50,
             "intensities in the reference's mapping: off by %g", worst);
    mg_image_folder_free(&f);
  }
  if (tu_check(mg_image_folder_read(path_of("stranger"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "%s", err)) {
    tu_check(mg_image_folder_match(&f, path_of("stranger"), &ref, err, sizeof err) == MG_ERR_FORMAT &&
             strstr(err, path_of("stranger")) && strstr(err, "'C'"), "a class the reference lacks: %s", err);
    mg_image_folder_free(&f);
  }
  if (tu_check(mg_image_folder_read(path_of("match/B"), 0, 0, NULL, &f, err, sizeof err) == MG_OK, "%s", err)) {
    tu_check(mg_image_folder_match(&f, path_of("match/B"), &ref, err, sizeof err) == MG_ERR_FORMAT &&
             strstr(err, "no class folders"), "an unlabelled folder: %s", err);
    mg_image_folder_free(&f);
  }
}

int main(int argc, char **argv) {
  const char *base = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/medgen-test-image-folder-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(root)) {
    fprintf(stderr, "FAIL: cannot create a scratch folder under %s\n", base ? base : "/tmp");
    return EXIT_FAILURE;
  }
  int rc;
  if (argc == 3 && strcmp(argv[1], "--mednist") == 0) {
    rc = test_mednist(argv[2]);
  } else if (argc == 4 && strcmp(argv[1], "--nibabel") == 0) {
    rc = test_nibabel(argv[2], argv[3]);
  } else {
    test_resize();
    test_jpeg();
    test_image_read();
    test_nifti_write();
    test_grid();
    clear_root();
    test_folder();
    test_folder_fallback();
    test_folder_match();
    rc = tu_finish();
  }
  nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return rc;
}
