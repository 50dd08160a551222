/* io_internal.h: what the readers and writers of Logic/IO share: error messages naming the file, and atomic
 * file replacement. Not installed. */
#ifndef MG_IO_INTERNAL_H
#define MG_IO_INTERNAL_H

#include "mg_io.h"

#include <stdio.h>

/* Writes "<path>: <message>" into err (if non-NULL) and returns status. printf-style. */
mg_status mg_io_fail(char *err, size_t err_size, mg_status status, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Atomic replacement of a file: mg_atomic_open creates a fresh temporary file beside path (same folder, so the
 * final rename cannot cross file systems) and returns it opened for binary writing, or NULL with err set.
 * mg_atomic_commit flushes, fsyncs and renames it over path; mg_atomic_abort closes and deletes it. Both close f. */
typedef struct mg_atomic_file {
  FILE *f;
  char tmp_path[4096];
} mg_atomic_file;
mg_status mg_atomic_open(mg_atomic_file *af, const char *path, char *err, size_t err_size);
mg_status mg_atomic_commit(mg_atomic_file *af, const char *path, char *err, size_t err_size);
void mg_atomic_abort(mg_atomic_file *af);

#endif
