/* status.c: status names and file error messages. Kept apart so the checkpoint code links on its own (the
 * sanitizer test). */
#include "medgen.h"

#include <stdarg.h>
#include <stdio.h>

const char *mg_status_string(mg_status status) {
  switch (status) {
    case MG_OK: return "ok";
    case MG_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MG_ERR_IO: return "i/o error";
    case MG_ERR_FORMAT: return "format error";
    case MG_ERR_OUT_OF_MEMORY: return "out of memory";
    case MG_ERR_UNSUPPORTED: return "unsupported";
    case MG_ERR_CANCELLED: return "cancelled";
    case MG_ERR_NUMERIC: return "numeric error";
    case MG_ERR_INTERNAL: return "internal error";
    case MG_ERR_DEVICE: return "device error";
  }
  return "unknown status";
}

mg_status mg_file_error(char *err, size_t err_size, mg_status status, const char *path, const char *fmt, ...) {
  if (err && err_size) {
    int used = snprintf(err, err_size, "%s: ", path ? path : "(no file name)");
    if (used >= 0 && (size_t)used < err_size) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + used, err_size - (size_t)used, fmt, ap);
      va_end(ap);
    }
  }
  return status;
}
