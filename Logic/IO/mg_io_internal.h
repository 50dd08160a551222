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

#endif
