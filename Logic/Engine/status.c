/* status.c: status names. Kept apart so the checkpoint code links on its own (the sanitizer test). */
#include "medgen.h"

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
  }
  return "unknown status";
}
