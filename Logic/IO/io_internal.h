/* io_internal.h: what the readers and writers of Logic/IO share: error messages naming the file. (Files are
 * replaced atomically through medgen.h's mg_atomic_file.) Not installed. */
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

#endif
