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


/* Reads a baseline or progressive JPEG (8-bit gray or colour, converted to gray like PNGs). Same limits. */
mg_status mg_jpeg_read(const char *path, mg_image *out, char *err, size_t err_size);
/* Reads any 2D image the readers know, chosen by content (PNG and JPEG signatures, else NIfTI by extension
 * .nii / .nii.gz, taking a 2D file or a volume with one slice, the top row anterior (axial) or superior (coronal,
 * sagittal): its rows are reversed when they run toward +y, or +z when that component is the larger, by the sform,
 * else the qform, else the identity, and kept when they run the other way, as in ITK's LPS identity that `medgen
 * sample` writes, so its images read back as generated; columns keep storage order), into float pixels in the
 * file's units. The message names the file and the problem (unknown format,
 * corrupt, not 2D). */
typedef struct mg_image_f {
  int width, height;
  float *pixels;  /* width*height values, row-major, top row first, malloc'ed */
  bool synthetic; /* the file carries MedGen's synthetic marker */
  bool eight_bit; /* the file's samples are unsigned 8-bit (PNG, JPEG, 8-bit formats ITK reads): values 0..255 */
} mg_image_f;
mg_status mg_image_read(const char *path, mg_image_f *out, char *err, size_t err_size);
void mg_image_f_free(mg_image_f *img);

/* Resamples a width x height image to size x size by area averaging (a pixel of the result is the mean of the
 * source area it covers, so downscaling does not alias). The aspect ratio is not kept. out holds size*size.
 * Upsampling is therefore a box magnification: pixels are replicated, and an output pixel straddling two source
 * pixels mixes them by area; nothing is interpolated. */
void mg_image_resize_area(const float *src, int width, int height, int size, float *out);

/* A reader with mg_image_read's contract, for the files mg_image_read does not know (mg_itk_image_read in
 * Logic/ITK/mg_itk.h reads every 2D format ITK reads: DICOM, TIFF, BMP, NRRD, MetaImage, ...). It sets eight_bit
 * for unsigned 8-bit samples. Logic/IO stays plain C: the ITK layer above it is passed in, never linked here. */
typedef mg_status (*mg_image_reader)(const char *path, mg_image_f *out, char *err, size_t err_size);

/* mg_image_read, then fallback (when not NULL) for a file none of mg_image_read's readers knows; a file they know but
 * cannot read (a corrupt PNG) stays their error. */
mg_status mg_image_read_fallback(const char *path, mg_image_reader fallback, mg_image_f *out, char *err,
                                 size_t err_size);

/* A folder of 2D training images, one subfolder per class (class names are the subfolder names, sorted), or
 * images directly in the folder (unlabelled). Files are taken in sorted name order, whatever their extension (a
 * DICOM file often has none); hidden files are skipped; README/text files (.txt, .md, .csv, .json) are skipped.
 * Each file goes to mg_image_read (PNG, JPEG, NIfTI); a file it does not know goes to fallback when one is given
 * (NULL: none), and a file no reader knows is refused with a message naming it (an image folder should hold
 * images). Every image is resized to size x size (size 0: the size of the first image, which must then be square)
 * and scaled to [-1, 1] by the intensity range, recorded in norm_offset and norm_scale: when every image has
 * unsigned 8-bit samples (eight_bit: PNG, JPEG, and fallback-read files of unsigned char components, colour ones
 * included) the range is 0..255; when any image has other samples (NIfTI of any type, 16-bit, float, DICOM with a
 * rescale to another type) it is the minimum and maximum over the whole folder. max_per_class > 0 keeps the first
 * max_per_class files of each class (sorted names). */
typedef struct mg_image_folder {
  mg_dataset data;    /* points into the arrays below */
  float *images;
  int32_t *labels;    /* NULL when unlabelled */
  char **class_names; /* num_classes names */
  int *class_counts;  /* images per class */
} mg_image_folder;
mg_status mg_image_folder_read(const char *path, int size, int max_per_class, mg_image_reader fallback,
                               mg_image_folder *out, char *err, size_t err_size);
void mg_image_folder_free(mg_image_folder *f);
/* Puts a second folder (held-out or synthetic images of the same classes) in the terms of a reference dataset: its
 * labels renumbered into ref's class order by name, its images re-expressed in ref's intensity mapping (so that
 * both are in the same units; values may then leave [-1, 1]). Refused, naming f's path and the first class folder
 * ref lacks, when f is unlabelled or has a class ref does not. */
mg_status mg_image_folder_match(mg_image_folder *f, const char *path, const mg_dataset *ref, char *err,
                                size_t err_size);

/* The files mg_image_folder_read would read, listed and checked by the same rules (and with the same messages)
 * before any is opened: for callers that read the images themselves. Paths are in reading order (class folders
 * sorted, files sorted within each); labels is NULL for an unlabelled folder. */
typedef struct mg_image_folder_files {
  int count;
  char **paths;       /* count paths: the folder's path joined with the file's (and its class folder's) name */
  int32_t *labels;    /* count class indices, or NULL */
  int num_classes;    /* 0 when unlabelled */
  char **class_names; /* num_classes class folder names */
  int *class_counts;  /* files per class */
} mg_image_folder_files;
mg_status mg_image_folder_list(const char *path, int max_per_class, mg_image_folder_files *out, char *err,
                               size_t err_size);
void mg_image_folder_files_free(mg_image_folder_files *f);

/* NIfTI-1 datatype codes mg_nifti_write can store. */
typedef enum mg_nifti_datatype {
  MG_NIFTI_UINT8 = 2, MG_NIFTI_INT16 = 4, MG_NIFTI_INT32 = 8, MG_NIFTI_FLOAT32 = 16, MG_NIFTI_FLOAT64 = 64,
  MG_NIFTI_INT8 = 256, MG_NIFTI_UINT16 = 512, MG_NIFTI_UINT32 = 768
} mg_nifti_datatype;

/* The words that open the descrip of every synthetic NIfTI MedGen writes (readers look for them). */
#define MG_NIFTI_SYNTHETIC_DESCRIP "MedGen SYNTHETIC"

typedef struct mg_nifti_write_options {
  mg_nifti_datatype datatype; /* 0: float32; integer types get values rounded to nearest and clamped to range */
  bool synthetic;             /* descrip opens with MG_NIFTI_SYNTHETIC_DESCRIP, intent name "MedGenSynth" */
  const char *fields;         /* synthetic only (may be NULL): what follows the marker in descrip, e.g.
                                 "fnv1a64:0123456789abcdef ddim/50 seed 7"; cut to fit descrip's 79 characters */
  bool patient_lps;           /* true: storage x, y, z run to patient left, posterior, superior (ITK's identity
                                 direction: sform diag(-dx, -dy, dz), quaternion (0, 0, 1)); false: right, anterior,
                                 superior (the scaled identity) */
  const char *comment;        /* may be NULL: text kept whole in a NIfTI-1 comment extension (ecode 6), e.g. every
                                 reproduction field as key=value lines (under 1 MiB) */
} mg_nifti_write_options;

/* Writes a NIfTI-1 file (.nii, or .nii.gz when the path ends so) of dim[0] x dim[1] x dim[2] voxels given as
 * floats (x fastest; dim[2] = 1 for one image), voxel size pixdim, stored as options->datatype, atomically.
 * options NULL: float32, not marked. A non-synthetic file's descrip is "MedGen <version>". */
mg_status mg_nifti_write(const char *path, const float *data, const int dim[3], const float pixdim[3],
                         const mg_nifti_write_options *options, char *err, size_t err_size);

/* A grid of count images (each size x size floats) as one 8-bit PNG, columns wide (fewer when count is smaller),
 * with a 2-pixel black gap, values mapped linearly from [lo, hi] to [0, 255] (clamped). Written atomically with
 * the synthetic marker when synthetic is true. */
mg_status mg_png_write_grid(const char *path, const float *images, int count, int size, int columns, double lo,
                            double hi, bool synthetic, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
