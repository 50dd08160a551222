/* io_util.c: error messages and atomic file replacement for Logic/IO (see io_internal.h). */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

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

mg_status mg_atomic_open(mg_atomic_file *af, const char *path, char *err, size_t err_size) {
  /* pid + a process-wide counter make the name unique; O_EXCL makes sure we never write through someone
   * else's file or link. Mode 0666 lets the umask decide the final permissions, as for any new file. */
  static atomic_int counter;
  af->f = NULL;
  int n = snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.%ld.%d", path, (long)getpid(),
                   atomic_fetch_add(&counter, 1));
  if (n < 0 || (size_t)n >= sizeof af->tmp_path)
    return mg_io_fail(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "file name too long");
  int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0)
    return mg_io_fail(err, err_size, MG_ERR_IO, path, "cannot create a temporary file beside it (%s)",
                      strerror(errno));
  af->f = fdopen(fd, "wb");
  if (!af->f) {
    int e = errno;
    close(fd);
    unlink(af->tmp_path);
    return mg_io_fail(err, err_size, MG_ERR_IO, path, "cannot open the temporary file (%s)", strerror(e));
  }
  return MG_OK;
}

mg_status mg_atomic_commit(mg_atomic_file *af, const char *path, char *err, size_t err_size) {
  /* fsync before rename: otherwise a crash can leave the new name pointing at an empty file. */
  bool ok = fflush(af->f) == 0 && !ferror(af->f) && fsync(fileno(af->f)) == 0;
  int e = errno;
  ok = (fclose(af->f) == 0) && ok;
  af->f = NULL;
  if (!ok) {
    unlink(af->tmp_path);
    return mg_io_fail(err, err_size, MG_ERR_IO, path, "write failed (%s)", strerror(e));
  }
  if (rename(af->tmp_path, path) != 0) {
    e = errno;
    unlink(af->tmp_path);
    return mg_io_fail(err, err_size, MG_ERR_IO, path, "cannot rename the temporary file into place (%s)",
                      strerror(e));
  }
  return MG_OK;
}

void mg_atomic_abort(mg_atomic_file *af) {
  if (af->f) fclose(af->f);
  af->f = NULL;
  unlink(af->tmp_path);
}

mg_status mg_file_write_atomic(const char *path, const void *data, size_t bytes, char *err, size_t err_size) {
  if (!path || (!data && bytes))
    return mg_io_fail(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "nothing to write");
  mg_atomic_file af;
  mg_status st = mg_atomic_open(&af, path, err, err_size);
  if (st != MG_OK) return st;
  if (bytes && fwrite(data, 1, bytes, af.f) != bytes) {
    int e = errno;
    mg_atomic_abort(&af);
    return mg_io_fail(err, err_size, MG_ERR_IO, path, "write failed (%s)", strerror(e));
  }
  return mg_atomic_commit(&af, path, err, err_size);
}
