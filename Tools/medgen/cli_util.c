/* cli_util.c: helpers shared by the medgen commands (cli_util.h). */
#include "cli_util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool cli_parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool cli_parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

bool cli_parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (*s < '0' || *s > '9') return false; /* strtoull would skip spaces and wrap a minus */
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

bool cli_make_dir(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
    errno = ENAMETOOLONG;
    return false;
  }
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0777) && errno != EEXIST) return false;
      *p = '/';
    }
  return !mkdir(buf, 0777) || errno == EEXIST;
}

double cli_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void cli_format_duration(double seconds, char *buf, size_t size) {
  long t = seconds > 0 ? (long)(seconds + 0.5) : 0;
  if (t >= 3600) snprintf(buf, size, "%ldh%02ldm", t / 3600, t % 3600 / 60);
  else if (t >= 60) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, size, "%lds", t);
}

static volatile sig_atomic_t interrupted;
static struct sigaction previous_sigint;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

void cli_catch_interrupt(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process the usual way */
  sigemptyset(&sa.sa_mask);
  interrupted = 0;
  sigaction(SIGINT, &sa, &previous_sigint);
}

void cli_release_interrupt(void) { sigaction(SIGINT, &previous_sigint, NULL); }

bool cli_interrupted(void) { return interrupted != 0; }

void cli_text_append(cli_text *t, const char *fmt, ...) {
  if (t->failed) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    t->failed = true;
    return;
  }
  if (t->len + (size_t)n + 1 > t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 1 << 16;
    while (cap < t->len + (size_t)n + 1) cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
      t->failed = true;
      return;
    }
    t->data = grown;
    t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

void cli_text_free(cli_text *t) {
  free(t->data);
  *t = (cli_text){0};
}

bool cli_model_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_weights weights, cli_model *out, char *err,
                    size_t err_size) {
  *out = (cli_model){0};
  const char *type = mg_checkpoint_model_type(ckpt);
  mg_status st = type && !strcmp(type, "gan") ? mg_gan_load(ctx, ckpt, weights, &out->gan)
                                              : mg_ddpm_load(ctx, ckpt, weights, &out->ddpm);
  if (st != MG_OK) snprintf(err, err_size, "%s", mg_context_error(ctx));
  return st == MG_OK;
}

void cli_model_free(cli_model *m) {
  mg_ddpm_free(m->ddpm);
  mg_gan_free(m->gan);
  *m = (cli_model){0};
}

const char *cli_model_kind(const cli_model *m) { return m->gan ? "GAN" : "diffusion model"; }

int cli_model_image_size(const cli_model *m) {
  return m->gan ? mg_gan_get_config(m->gan)->image_size : mg_ddpm_get_config(m->ddpm)->unet.image_size;
}

int cli_model_channels(const cli_model *m) {
  return m->gan ? mg_gan_get_config(m->gan)->channels : mg_ddpm_get_config(m->ddpm)->unet.in_channels;
}

int64_t cli_model_step(const cli_model *m) { return m->gan ? mg_gan_step(m->gan) : mg_ddpm_step(m->ddpm); }

int cli_model_num_classes(const cli_model *m) {
  return m->gan ? mg_gan_num_classes(m->gan) : mg_ddpm_num_classes(m->ddpm);
}

const char *cli_model_class_name(const cli_model *m, int index) {
  return m->gan ? mg_gan_class_name(m->gan, index) : mg_ddpm_class_name(m->ddpm, index);
}

int cli_model_class_index(const cli_model *m, const char *name) {
  return m->gan ? mg_gan_class_index(m->gan, name) : mg_ddpm_class_index(m->ddpm, name);
}

void cli_model_normalization(const cli_model *m, double *offset, double *scale) {
  if (m->gan) mg_gan_normalization(m->gan, offset, scale);
  else mg_ddpm_normalization(m->ddpm, offset, scale);
}

const char *cli_model_note(const cli_model *m, const char *key) {
  return m->gan ? mg_gan_note(m->gan, key) : mg_ddpm_note(m->ddpm, key);
}

mg_status cli_model_set_note(cli_model *m, const char *key, const char *value) {
  return m->gan ? mg_gan_set_note(m->gan, key, value) : mg_ddpm_set_note(m->ddpm, key, value);
}

const char *cli_train_log_header(const cli_train_progress *p) {
  return p->gan ? "step,d_loss,g_loss,r_t,augment_p,seconds\n" : "step,loss,seconds\n";
}

int cli_on_train_progress(void *user, const mg_progress *pr) {
  cli_train_progress *p = user;
  mg_gan_training_state gs = {0};
  if (p->gan) {
    gs = mg_gan_training_state_of(p->gan);
    p->g_loss_sum += gs.g_loss;
  }
  if (p->log && p->gan)
    cli_text_append(p->log, "%lld,%.6g,%.6g,%.4f,%.4f,%.3f\n", (long long)pr->step, pr->loss, gs.g_loss,
                    gs.real_sign, gs.augment_p, pr->elapsed_s);
  else if (p->log)
    cli_text_append(p->log, "%lld,%.6g,%.3f\n", (long long)pr->step, pr->loss, pr->elapsed_s);
  p->loss_sum += pr->loss;
  p->loss_count++;
  int64_t done_here = pr->step - p->first_step;
  if (pr->step % p->report_every == 0 || pr->step == pr->total || done_here == 1) {
    double dt = pr->elapsed_s - p->t_report;
    double rate = dt > 0 ? (double)(done_here - p->steps_at_report) * p->batch / dt : 0;
    char elapsed[32], eta[32], losses[128];
    cli_format_duration(pr->elapsed_s, elapsed, sizeof elapsed);
    cli_format_duration((double)(pr->total - pr->step) * pr->elapsed_s / (double)done_here, eta, sizeof eta);
    char r_t[16] = "-"; /* none until the first measurement */
    if (!isnan(gs.real_sign)) snprintf(r_t, sizeof r_t, "%.2f", gs.real_sign);
    if (p->gan)
      snprintf(losses, sizeof losses, "D %.4f  G %.4f  r_t %s  p %.3f", p->loss_sum / (double)p->loss_count,
               p->g_loss_sum / (double)p->loss_count, r_t, gs.augment_p);
    else
      snprintf(losses, sizeof losses, "loss %.4f", p->loss_sum / (double)p->loss_count);
    printf("step %*lld/%lld  %3d%%  %s  %7.1f images/s  elapsed %s  ETA %s\n",
           (int)snprintf(NULL, 0, "%lld", (long long)pr->total), (long long)pr->step, (long long)pr->total,
           (int)(100 * pr->step / pr->total), losses, rate, elapsed, eta);
    fflush(stdout);
    p->t_report = pr->elapsed_s;
    p->steps_at_report = done_here;
    p->loss_sum = 0;
    p->g_loss_sum = 0;
    p->loss_count = 0;
  }
  return cli_interrupted();
}

/* Checked before the work starts, so that a typo fails before minutes of training or sampling. */
bool cli_output_folder_writable(const char *tool, const char *option, const char *path) {
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  size_t n = strlen(parent);
  while (n > 1 && parent[n - 1] == '/') parent[--n] = 0;
  char *slash = strrchr(parent, '/');
  if (!slash) snprintf(parent, sizeof parent, ".");
  else if (slash == parent) parent[1] = 0;
  else *slash = 0;
  struct stat st;
  if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "%s: cannot write %s %s: the folder %s does not exist\n", tool, option, path, parent);
    return false;
  }
  if (access(parent, W_OK) != 0) {
    fprintf(stderr, "%s: cannot write %s %s: the folder %s is not writable\n", tool, option, path, parent);
    return false;
  }
  return true;
}

int cli_usage_error(const char *tool, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", tool);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (try: %s --help)\n", tool);
  va_end(ap);
  return 2;
}

void cli_class_list_path(const char *stack, char *out, size_t out_size) {
  size_t base = strlen(stack);
  while (base > 1 && stack[base - 1] == '/') base--;
  const char *dot = strrchr(stack, '.'), *slash = strrchr(stack, '/');
  const bool folder = base < strlen(stack);
  if (base >= 7 && strncmp(stack + base - 7, ".nii.gz", 7) == 0) base -= 7;
  else if (!folder && dot && (!slash || dot > slash)) base = (size_t)(dot - stack);
  snprintf(out, out_size, "%.*s.csv", (int)base, stack);
}

int cli_check_device(const char *tool, const char *name) {
  if (!name || mg_device_from_name(name) >= 0) return 0;
  return cli_usage_error(tool, "unknown --device '%s': use auto, cpu or cuda", name);
}

/* auto's note is the same for every context of a process: said once. */
static bool device_note_shown;

int cli_context_create(const char *tool, const char *device_name, int threads, bool tf32, mg_ctx **out,
                       mg_device *device) {
  *out = NULL;
  if (cli_check_device(tool, device_name)) return 2;
  mg_device requested = device_name ? (mg_device)mg_device_from_name(device_name) : MG_DEVICE_AUTO, resolved;
  char note[1024];
  if (mg_device_resolve(requested, &resolved, note, sizeof note) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, note);
    return 1;
  }
  if (note[0] && !device_note_shown) {
    fprintf(stderr, "%s: %s\n", tool, note);
    device_note_shown = true;
  }
  /* the resolved device, not auto: the engine resolving again could pick another if the GPU came or went */
  mg_context_options options = {resolved, threads, tf32};
  char err[1024];
  if (mg_context_create(&options, out, err, sizeof err) != MG_OK) {
    fprintf(stderr, "%s: cannot start the engine: %s\n", tool, err);
    return 1;
  }
  if (device) *device = resolved;
  return 0;
}

const char *cli_device_text(const mg_ctx *ctx, mg_device device, bool tf32, char *buf, size_t size) {
  if (device == MG_DEVICE_CUDA) snprintf(buf, size, "cuda%s", tf32 ? ", tf32" : "");
  else snprintf(buf, size, "cpu, %d thread%s", mg_context_threads(ctx), mg_context_threads(ctx) == 1 ? "" : "s");
  return buf;
}

const char *cli_tf32_note(mg_device device, bool tf32) { return device == MG_DEVICE_CUDA && tf32 ? "1" : "0"; }
