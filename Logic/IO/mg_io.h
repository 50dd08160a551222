/* mg_io.h: the small image readers and writers MedGen's tools need: NIfTI-1 volumes in, 8-bit grayscale PNG
 * out and in. Plain C, no engine types; failures return an mg_status and leave a message naming the file and
 * the problem in the caller's err buffer. Nothing here exits, aborts or prints.
 *
 * Every synthetic image MedGen writes must say so in its metadata: pass synthetic = true to mg_png_write and
 * the file carries a tEXt "Comment" chunk with MG_PNG_SYNTHETIC_TEXT, which mg_png_read reports back.
 */
#ifndef MG_IO_H
#define MG_IO_H

#include "medgen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MG_PNG_SYNTHETIC_TEXT "MedGen synthetic image - not for diagnosis"

/* A 3D scalar volume as float voxels, x fastest: voxel (x,y,z) is data[(z*dim[1] + y)*dim[0] + x]. Values are
 * in the file's physical units (scl_slope and scl_inter applied). The orientation matrices are not read: the
 * axes are the file's storage axes, which for the usual templates (MNI, Colin-27) run left->right,
 * posterior->anterior, inferior->superior. */
typedef struct mg_volume {
  int dim[3];      /* voxels along x, y, z */
  float pixdim[3]; /* voxel size along x, y, z (the file's units, usually mm) */
  float *data;     /* dim[0]*dim[1]*dim[2] values, malloc'ed */
} mg_volume;

/* Reads a single-file NIfTI-1 volume (.nii, or .nii.gz through zlib; either byte order). Datatypes uint8,
 * int16, uint16, int32, float32, float64. 2D files read as one slice; 4D and higher are accepted only when the
 * extra dimensions have extent 1. Non-finite voxels (NaN padding in some float files) read as 0. On failure out
 * is zeroed and err holds "<path>: <problem>". */
mg_status mg_nifti_read(const char *path, mg_volume *out, char *err, size_t err_size);
void mg_volume_free(mg_volume *v);

/* An 8-bit grayscale image, row-major, top row first. */
typedef struct mg_image {
  int width, height;
  uint8_t *pixels;  /* width*height bytes, malloc'ed */
  bool synthetic;   /* read: the file carries MedGen's synthetic-image marker */
} mg_image;

/* Writes img as an 8-bit grayscale PNG, atomically (mg_atomic_file in medgen.h): a failure never leaves a
 * partial file under path. synthetic = true adds the tEXt marker. */
mg_status mg_png_write(const char *path, const uint8_t *pixels, int width, int height, bool synthetic, char *err,
                       size_t err_size);
/* Reads a PNG of any bit depth and colour type into 8-bit gray (colour is converted with the Rec. 709 weights,
 * alpha is dropped, 16-bit is reduced to 8). Images larger than 16384 pixels on a side are refused. */
mg_status mg_png_read(const char *path, mg_image *out, char *err, size_t err_size);
void mg_image_free(mg_image *img);

#ifdef __cplusplus
}
#endif
#endif
