/* atomic_file.c: replacing a file atomically (medgen.h): write a temporary file beside the target, fsync it,
 * rename it over the target, fsync the folder. Whoever reads the target, even after a crash or a full disk, sees
 * the old file or the complete new one, never a mix; no failure leaves the temporary file behind. Checkpoints,
 * PNGs and the demo's CSV log all go through here.
 *
 * Uses only libc and medgen.h, so the checkpoint sanitizer test can build it with checkpoint.c alone. */
#include "medgen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { TEMP_NAME_TRIES = 64 }; /* names already taken before we give up (only stale leftovers can take one) */

struct mg_atomic_file {
  FILE *f;    /* the temporary file, open for writing */
  char *path; /* the target, for the rename and for messages */
  char *tmp;  /* the temporary file: same folder as path, so the rename never crosses file systems */
  char *dir;  /* the folder of both, fsynced after the rename */
};

/* A failed write, flush or close, with errno e. A full disk gets its own words: it is the common case, and the
 * one a user can fix. */
static mg_status io_failure(char *err, size_t err_size, const char *path, const char *what, int e) {
  if (e == ENOSPC
#ifdef EDQUOT
      || e == EDQUOT
#endif
  )
    return mg_file_error(err, err_size, MG_ERR_IO, path, "disk full while %s (%s)", what, strerror(e));
  return mg_file_error(err, err_size, MG_ERR_IO, path, "%s failed (%s)", what, strerror(e));
}

static void free_handle(mg_atomic_file *af) {
  free(af->path);
  free(af->tmp);
  free(af->dir);
  free(af);
}

/* 48 bits that differ between processes, threads and calls: the process id, a process-wide counter, the clock and
 * a stack address, mixed (splitmix64's finalizer) so that neighbouring inputs give unrelated names. */
static uint64_t temp_suffix(void) {
  static atomic_uint_fast64_t counter;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int local;
  uint64_t z = (uint64_t)getpid() << 32 ^ (uint64_t)atomic_fetch_add(&counter, 1) ^
               (uint64_t)now.tv_nsec << 20 ^ (uint64_t)now.tv_sec ^ (uint64_t)(uintptr_t)&local;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (z ^ (z >> 31)) & 0xffffffffffffull;
}

mg_status mg_atomic_file_open(const char *path, mg_atomic_file **out, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (out) *out = NULL;
  if (!path || !path[0]) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, NULL, "no file name given");
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "nowhere to return the open file");

  /* The temporary file is hidden (a leading dot), so file browsers do not offer a half-written image. Its name
   * keeps at most 100 bytes of the target's so a long target name still leaves room for the suffix. */
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  size_t dir_len = slash ? (size_t)(slash - path) : 0;
  mg_atomic_file *af = calloc(1, sizeof *af);
  size_t path_len = strlen(path), tmp_size = dir_len + 1 + 1 + 100 + 5 + 12 + 1;
  if (af) af->path = malloc(path_len + 1), af->tmp = malloc(tmp_size), af->dir = malloc(dir_len + 2);
  if (!af || !af->path || !af->tmp || !af->dir) {
    if (af) free_handle(af);
    return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  }
  memcpy(af->path, path, path_len + 1);
  if (!slash) strcpy(af->dir, ".");
  else if (dir_len == 0) strcpy(af->dir, "/");
  else memcpy(af->dir, path, dir_len), af->dir[dir_len] = '\0';

  /* O_EXCL: we never write through a file or link someone else made. Mode 0666 lets the umask (and any default
   * ACL of the folder) decide a new file's permissions, as for any file a program creates. */
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < TEMP_NAME_TRIES; attempt++) {
    snprintf(af->tmp, tmp_size, "%.*s%s.%.100s.tmp-%012llx", (int)dir_len, path, slash ? "/" : "", base,
             (unsigned long long)temp_suffix());
    fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    int e = errno;
    mg_status st = mg_file_error(err, err_size, MG_ERR_IO, path, "cannot create a temporary file in '%s' (%s)", af->dir,
                        strerror(e));
    free_handle(af);
    return st;
  }
  /* Replacing a file keeps its permissions (a checkpoint made private stays private). */
  struct stat old;
  if (stat(path, &old) == 0 && S_ISREG(old.st_mode) && fchmod(fd, old.st_mode & 0777) != 0) {
    int e = errno;
    close(fd);
    unlink(af->tmp);
    mg_status st = mg_file_error(err, err_size, MG_ERR_IO, path, "cannot give the temporary file the permissions of the "
                        "existing file (%s)", strerror(e));
    free_handle(af);
    return st;
  }
  af->f = fdopen(fd, "wb");
  if (!af->f) {
    int e = errno;
    close(fd);
    unlink(af->tmp);
    free_handle(af);
    return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the temporary file for writing (%s)", strerror(e));
  }
  *out = af;
  return MG_OK;
}

FILE *mg_atomic_file_stream(mg_atomic_file *af) { return af ? af->f : NULL; }

mg_status mg_atomic_file_write(mg_atomic_file *af, const void *data, size_t bytes, char *err, size_t err_size) {
  if (!af) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, NULL, "no open file to write to");
  if (bytes == 0) return MG_OK;
  if (!data) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, af->path, "no data given to write");
  if (fwrite(data, 1, bytes, af->f) != bytes) return io_failure(err, err_size, af->path, "writing", errno);
  return MG_OK;
}

mg_status mg_atomic_file_commit(mg_atomic_file *af, char *err, size_t err_size) {
  if (!af) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, NULL, "no open file to commit");
  mg_status st = MG_OK;
  /* The data must be on disk before the rename: otherwise a crash can leave the name pointing at an empty file.
   * A stream whose error flag is set lost a write somewhere (the writer's errno is gone by now): never rename a
   * file with a hole in it. */
  if (fflush(af->f) != 0) st = io_failure(err, err_size, af->path, "writing", errno);
  else if (ferror(af->f)) st = io_failure(err, err_size, af->path, "writing", EIO);
  else if (fsync(fileno(af->f)) != 0 && errno != EINVAL) /* EINVAL: a file system without fsync (some FUSE) */
    st = io_failure(err, err_size, af->path, "flushing to disk", errno);
  if (fclose(af->f) != 0 && st == MG_OK) st = io_failure(err, err_size, af->path, "closing", errno);
  af->f = NULL;
  if (st == MG_OK && rename(af->tmp, af->path) != 0)
    st = mg_file_error(err, err_size, MG_ERR_IO, af->path, "cannot move the new file into place (%s)", strerror(errno));
  if (st != MG_OK) {
    unlink(af->tmp);
  } else {
    /* Makes the rename itself durable. Best effort: the data is already on disk, and some file systems refuse
     * fsync on folders. */
    int dfd = open(af->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  free_handle(af);
  return st;
}

void mg_atomic_file_abort(mg_atomic_file *af) {
  if (!af) return;
  if (af->f) fclose(af->f);
  unlink(af->tmp);
  free_handle(af);
}

mg_status mg_file_write_atomic(const char *path, const void *data, size_t bytes, char *err, size_t err_size) {
  if (!data && bytes) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no data given to write");
  mg_atomic_file *af = NULL;
  mg_status st = mg_atomic_file_open(path, &af, err, err_size);
  if (st == MG_OK) st = mg_atomic_file_write(af, data, bytes, err, err_size);
  if (st != MG_OK) {
    mg_atomic_file_abort(af);
    return st;
  }
  return mg_atomic_file_commit(af, err, err_size);
}
