/* mg_io_internal.h: what the readers in Logic/IO share among themselves and nobody else needs. */
#ifndef MG_IO_INTERNAL_H
#define MG_IO_INTERNAL_H

#include "mg_io.h"

#include <stdio.h>

/* NIfTI intent_name of the files mg_nifti_write marks as synthetic (16 bytes at most, with the NUL). */
#define MG_NIFTI_SYNTHETIC_INTENT "MedGenSynth"

/* mg_png_read and mg_jpeg_read on a file already open at its start (path only names it in messages); the
 * caller closes it. Saves the second open when the caller has already looked at the signature. */
mg_status mg_png_read_stream(FILE *f, const char *path, mg_image *out, char *err, size_t err_size);
mg_status mg_jpeg_read_stream(FILE *f, const char *path, mg_image *out, char *err, size_t err_size);

typedef enum mg_image_kind { MG_IMAGE_UNKNOWN, MG_IMAGE_PNG, MG_IMAGE_JPEG, MG_IMAGE_NIFTI } mg_image_kind;
/* mg_image_read that also says which reader took the file: MG_IMAGE_UNKNOWN when none knows it, so that
 * mg_image_read_fallback hands only those to its fallback (a corrupt PNG stays the PNG reader's error). */
mg_status mg_image_read_kind(const char *path, mg_image_f *out, mg_image_kind *kind, char *err, size_t err_size);

#endif
