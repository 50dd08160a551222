/* io_util.c: error messages naming the file, for Logic/IO (see io_internal.h). */
#include "io_internal.h"

#include <stdarg.h>

mg_status mg_io_fail(char *err, size_t err_size, mg_status status, const char *path, const char *fmt, ...) {
  if (err && err_size) {
    int n = snprintf(err, err_size, "%s: ", path ? path : "(no file name)");
    if (n >= 0 && (size_t)n < err_size) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return status;
}
