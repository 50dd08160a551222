/* mg_itk.h: the ITK layer for C callers (the medgen tool): training slices from volumes in any format ITK 5.2
 * reads, and synthetic stacks written in any of those formats with their pixel type, geometry and synthetic mark.
 * Failures return an mg_status with "<file>: <problem>" in err; nothing here exits or prints. */
#ifndef MG_ITK_H
#define MG_ITK_H

#include "medgen.h"
#include "mg_io.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Reading: one 2D image in any format ITK 5.2 reads (mg_itk_image.cxx) ---- */
/* mg_image_read's contract (mg_io.h), for the formats Logic/IO's C readers do not know: pass it to
 * mg_image_folder_read as its fallback reader. Reads a 2D image (or a 3D file holding one slice) of one component
 * (gray) or RGB/RGBA (Rec. 709 luma of R, G, B, alpha dropped; 8-bit colour rounds to integers as the PNG reader
 * does) as float in the file's units, index order kept (ITK's first row is the top row). eight_bit: unsigned char
 * components. DICOM (GDCMImageIO): RescaleSlope/RescaleIntercept are applied (CT in HU); MONOCHROME1 is converted
 * to MONOCHROME2 by ITK 5.2 itself (stored values inverted, so that high is bright in every file; ITK warns once on
 * stderr). synthetic: the file carries MedGen's mark (key "MedGen" = "synthetic", or a DICOM ImageType holding
 * SYNTHETIC). Refused, naming the file: files no ITK reader knows, volumes of more than one slice, multi-frame
 * DICOM, other pixel types (complex, vectors, tensors), images larger than 16384 on a side. */
mg_status mg_itk_image_read(const char *path, mg_image_f *out, char *err, size_t err_size);
/* A stack of 2D images in one file (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd; a 2D file is a stack of one), as
 * mg_itk_write_stack writes it: *count images of *width x *height floats in the file's units, image k's pixel (row r,
 * column c) at index (c, r, k), so that `medgen sample`'s stacks read back as the images it generated (rows are not
 * reoriented by the direction). *images is malloc'ed. synthetic: the file carries MedGen's mark (the "MedGen" key,
 * or a NIfTI descrip opening with MG_NIFTI_SYNTHETIC_DESCRIP). Refused, naming the file: files ITK cannot read,
 * more than 3 dimensions of extent above 1, pixels of more than one component, images larger than 16384 on a side. */
mg_status mg_itk_stack_read(const char *path, float **images, int *width, int *height, int *count, bool *synthetic,
                            char *err, size_t err_size);
/* True when folder holds 2D DICOM images rather than a DICOM series: its DICOM files are each in a series of their
 * own (X-rays: one image per series). Two files of one series, or a lone multi-frame file, make it a volume; a
 * multi-frame file among others is left for mg_itk_image_read to refuse by name. */
bool mg_itk_is_dicom_image_folder(const char *folder);

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
 * .nhdr, .mha, .mhd, .dcm (but not an existing file holding one 2D image: those go to image folders), or a directory
 * holding a DICOM series (files with the DICM signature, unless mg_itk_is_dicom_image_folder). */
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
/* The formats, by the path: .nii/.nii.gz (through mg_nifti_write: descrip opens with "MedGen SYNTHETIC" followed by
 * what fits of the reproduction fields, every field as key=value lines in a comment extension (ecode 6), intent
 * name "MedGenSynth"), .nrrd/.nhdr and .mha/.mhd (every field as a key-value pair:
 * the keys itkMedGenImageSource.h lists), or a DICOM series when the path is a directory name ending in '/' (one
 * file per image, Secondary Capture with ConversionType SYN, ImageType DERIVED\SECONDARY\SYNTHETIC, Modality OT,
 * PatientName SYNTHETIC^MEDGEN, BurnedInAnnotation NO, a SeriesDescription opening "SYNTHETIC MedGen", the fields
 * in ImageComments, new Study/Series/SOP Instance UIDs). */
typedef enum mg_itk_format {
  MG_ITK_NIFTI, MG_ITK_NRRD, MG_ITK_METAIMAGE, MG_ITK_DICOM, MG_ITK_NOT_VOLUME
} mg_itk_format;
mg_itk_format mg_itk_format_of(const char *path);

/* The pixel types a stack can be written in, by ITK's component names with '_' or ' ': "unsigned char", "char",
 * "unsigned short", "short", "unsigned int", "int", "float", "double". */
bool mg_itk_pixel_type_known(const char *name);

/* What a synthetic stack says about itself; every field but model_fingerprint may be NULL or 0. */
typedef struct mg_itk_synthetic_info {
  const char *model_fingerprint; /* "fnv1a64:<16 hex>" of the checkpoint file (mg_itk_fingerprint) */
  const char *model_type;        /* "ddpm" or "gan" */
  const char *sampler;           /* "ddim", "dpm++2m", "ddpm", "gan" */
  int steps;
  unsigned long long seed;
  const char *class_name;        /* NULL: "none" */
  double guidance, truncation;
  const char *model_file;        /* the checkpoint's path (MedGen_Model) */
  const char *weights;           /* "ema" or "raw" */
} mg_itk_synthetic_info;

/* count images of size x size values (original units, top row first) written as a 3D stack, one image per slice:
 * pixel spacing mm_per_pixel in-plane (1 when mm_per_pixel <= 0), 1 between slices. pixel_type as
 * mg_itk_pixel_type_known takes (integer types: values rounded to nearest and clamped to the type's range; DICOM
 * stores float and double as 16-bit integers with RescaleSlope/RescaleIntercept covering the values' range).
 * Orientation: one patient space in every format, that of medgenVolumeSlices.h's axial slices (columns run +L, rows
 * +P), origin 0, the top image row first: NRRD, MetaImage and DICOM get the identity direction, NIfTI the same
 * direction in its RAS terms (sform diag(-mm, -mm, 1), qform a half turn about z), so that every format puts pixel
 * (row r, column c) of image k at the same patient position, LPS (c * mm, r * mm, k).
 * Atomic: files are written under temporary names and renamed into place, a DICOM series into a temporary sibling
 * directory renamed to path at the end (an existing non-empty directory is refused); a failure leaves nothing. */
mg_status mg_itk_write_stack(const char *path, const float *images, int count, int size, double mm_per_pixel,
                             const char *pixel_type, const mg_itk_synthetic_info *info, char *err,
                             size_t err_size);

/* "fnv1a64:<16 hex digits>" of a file's bytes into out (at least 25 bytes). */
mg_status mg_itk_fingerprint(const char *path, char *out, size_t out_size, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
