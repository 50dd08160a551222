/* mg_itk.h: the ITK layer for C callers (the medgen tool): training slices from volumes in any format ITK 5.2
 * reads, and synthetic stacks written in any of those formats with their pixel type, geometry and synthetic mark.
 * Failures return an mg_status with "<file>: <problem>" in err; nothing here exits or prints. */
#ifndef MG_ITK_H
#define MG_ITK_H

#include "medgen.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Reading: slices from volumes (medgen::SliceSet; see medgenVolumeSlices.h for every rule) ---- */
typedef enum mg_itk_axis { MG_ITK_AXIAL, MG_ITK_CORONAL, MG_ITK_SAGITTAL } mg_itk_axis;
/* "axial", "coronal", "sagittal" -> axis; false for anything else. */
bool mg_itk_axis_parse(const char *name, mg_itk_axis *axis);
const char *mg_itk_axis_name(mg_itk_axis axis);

typedef struct mg_itk_slice_options {
  mg_itk_axis axis;
  int size;                        /* slices are size x size */
  bool window;                     /* true: [window_low, window_high] -> [-1, 1]; false: robust percentiles */
  double window_low, window_high;
} mg_itk_slice_options;

/* True when path names a volume rather than a folder of 2D images: a file whose name ends in .nii, .nii.gz, .nrrd,
 * .nhdr, .mha, .mhd, .dcm, or a directory holding a DICOM series (files with the DICM signature). */
bool mg_itk_is_volume_path(const char *path);

typedef struct mg_itk_slices mg_itk_slices;
mg_status mg_itk_slices_create(const mg_itk_slice_options *options, mg_itk_slices **out, char *err,
                               size_t err_size);
void mg_itk_slices_free(mg_itk_slices *s);
/* Adds path's foreground slices (class_name NULL or "": unlabelled; label_map NULL or "": none). kept (may be
 * NULL) receives the number of slices kept. */
mg_status mg_itk_slices_add(mg_itk_slices *s, const char *path, const char *class_name, const char *label_map,
                            int *kept, char *err, size_t err_size);
/* Normalizes everything added into out (valid until the next add or the set's end). */
mg_status mg_itk_slices_dataset(mg_itk_slices *s, mg_dataset *out, char *err, size_t err_size);
/* The source component type ("short", "float", ...; "" before any slice) and the first volume's output pixel size
 * in mm (0 before any slice): what `medgen sample` gives its output by default. */
const char *mg_itk_slices_pixel_type(const mg_itk_slices *s);
double mg_itk_slices_mm_per_pixel(const mg_itk_slices *s);

/* ---- Writing: a stack of synthetic images ---- */
/* The formats, by the path: .nii/.nii.gz (the synthetic mark and the reproduction fields in descrip), .nrrd/.nhdr
 * and .mha/.mhd (every field as a key-value pair), or a DICOM series when the path is a directory name ending in
 * '/' (one file per image; ImageType DERIVED\SECONDARY, a SeriesDescription starting "SYNTHETIC", the fields in
 * ImageComments). */
typedef enum mg_itk_format { MG_ITK_NIFTI, MG_ITK_NRRD, MG_ITK_METAIMAGE, MG_ITK_DICOM, MG_ITK_NOT_VOLUME } mg_itk_format;
mg_itk_format mg_itk_format_of(const char *path);

/* What a synthetic stack says about itself; every field but model_fingerprint may be NULL or 0. */
typedef struct mg_itk_synthetic_info {
  const char *model_fingerprint; /* "fnv1a64:<16 hex>" of the checkpoint file (mg_itk_fingerprint) */
  const char *model_type;        /* "ddpm" or "gan" */
  const char *sampler;           /* "ddim", "dpm++2m", "ddpm", "gan" */
  int steps;
  unsigned long long seed;
  const char *class_name;
  double guidance, truncation;
} mg_itk_synthetic_info;

/* count images of size x size values (original units, top row first) written as a 3D stack (one image per slice)
 * with pixel spacing mm_per_pixel (slice spacing 1 when mm_per_pixel <= 0 gives spacing 1 everywhere) and
 * pixel_type one of "unsigned char", "char", "unsigned short", "short", "unsigned int", "int", "float", "double"
 * (values rounded and clamped to the type's range). Atomic: a failure leaves nothing under path. */
mg_status mg_itk_write_stack(const char *path, const float *images, int count, int size, double mm_per_pixel,
                             const char *pixel_type, const mg_itk_synthetic_info *info, char *err,
                             size_t err_size);

/* "fnv1a64:<16 hex digits>" of a file's bytes into out (at least 25 bytes). */
mg_status mg_itk_fingerprint(const char *path, char *out, size_t out_size, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
