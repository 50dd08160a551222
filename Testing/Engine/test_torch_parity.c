/* test_torch_parity.c: every engine op, forward and backward, and a UNet residual + attention block against
 * fixtures PyTorch wrote (Testing/Python/torch_reference.py; the torch_fixtures CTest setup test runs it).
 *
 * Each case of the fixture names its op in the metadata ("case.<case>" -> op). The case's inputs are loaded as
 * step tensors; an input gets requires_grad exactly when the fixture holds autograd's gradient for it. The op
 * runs forward, the output is compared with torch's, the backward is seeded with torch's upstream gradient dy
 * (mg_backward_from; scalar losses seeded with 1 use mg_backward), and every gradient and every updated buffer
 * (batch-norm running statistics) is compared.
 *
 * Tolerance, per compared tensor: |engine - torch| <= atol + rtol*|torch| elementwise, with rtol = 1e-4 and
 * atol = 1e-5 * max|torch| over that tensor. Both sides compute in float32 with different summation orders,
 * so values much smaller than their tensor's largest one (sums that cancel) carry absolute, not relative,
 * rounding error; the atol term scaled by the tensor's magnitude absorbs that and nothing more. One gradient
 * is exactly 0 in exact arithmetic (attention's key bias: softmax ignores a per-query shift), so both sides hold
 * only noise; there the fixture states the magnitude of the cancelling terms to scale atol by ("scale.<name>").
 *
 * Usage: test_torch_parity torch_fixtures.safetensors */
#include "test_util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PARITY_RTOL 1e-4
#define PARITY_ATOL_SCALE 1e-5
#define MAX_CASE_INPUTS 48
#define NAME_SIZE 160

/* One case being run: its name, the inputs it loaded (to compare their gradients afterwards), and results. */
typedef struct parity_case {
  mg_ctx *ctx;
  const mg_checkpoint *fx;
  const char *name;
  int n_inputs;
  mg_tensor *inputs[MAX_CASE_INPUTS];
  char input_names[MAX_CASE_INPUTS][NAME_SIZE];
  char fixture_error[512]; /* the fixture lacks something the case needs ("" when fine) */
  int compared, mismatched;
  double worst; /* largest error / tolerance over every compared tensor */
} parity_case;

static void fixture_fail(parity_case *c, const char *what, const char *key) {
  if (!c->fixture_error[0])
    snprintf(c->fixture_error, sizeof c->fixture_error, "%s %s.%s missing or malformed in the fixture", what,
             c->name, key);
}

/* The fixture tensor "<case>.<key>"; false if absent. */
static bool fx_get(const parity_case *c, const char *key, mg_checkpoint_tensor *out) {
  char full[2 * NAME_SIZE];
  if (snprintf(full, sizeof full, "%s.%s", c->name, key) >= (int)sizeof full) return false;
  return mg_checkpoint_find(c->fx, full, out) == MG_OK;
}

static bool fx_has(const parity_case *c, const char *key) {
  mg_checkpoint_tensor t;
  return fx_get(c, key, &t);
}

/* A scalar setting of the case (stride, groups, eps, ...). */
static double param(parity_case *c, const char *key) {
  mg_checkpoint_tensor t;
  if (!fx_get(c, key, &t) || t.numel != 1) {
    fixture_fail(c, "setting", key);
    return 0;
  }
  return t.data[0];
}

static bool shape_of(const mg_checkpoint_tensor *t, int *ndim, int *shape) {
  if (t->ndim < 1 || t->ndim > MG_MAX_DIMS) return false;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] < 1 || t->shape[i] > (1 << 24)) return false;
    shape[i] = (int)t->shape[i];
  }
  *ndim = t->ndim;
  return true;
}

/* Loads input "<case>.<key>" as a step tensor; it requires a gradient when torch computed one for it. */
static mg_tensor *input(parity_case *c, const char *key) {
  mg_checkpoint_tensor t;
  int ndim, shape[MG_MAX_DIMS];
  if (!fx_get(c, key, &t) || !shape_of(&t, &ndim, shape) || c->n_inputs == MAX_CASE_INPUTS) {
    fixture_fail(c, "input", key);
    return NULL;
  }
  mg_tensor *x = mg_tensor_new(c->ctx, MG_REAL, ndim, shape);
  if (!x || mg_tensor_upload(c->ctx, x, t.data, t.numel) != MG_OK) return NULL;
  char grad_key[2 * NAME_SIZE];
  snprintf(grad_key, sizeof grad_key, "grad.%s", key);
  x->requires_grad = fx_has(c, grad_key);
  c->inputs[c->n_inputs] = x;
  snprintf(c->input_names[c->n_inputs++], NAME_SIZE, "%s", key);
  return x;
}

/* An input that some cases omit (a bias): NULL without complaint when absent. */
static mg_tensor *optional_input(parity_case *c, const char *key) { return fx_has(c, key) ? input(c, key) : NULL; }

/* Integer labels, stored by the fixture as float values. */
static mg_tensor *labels(parity_case *c, const char *key) {
  mg_checkpoint_tensor t;
  if (!fx_get(c, key, &t) || t.ndim != 1 || t.numel < 1 || t.numel > (1 << 20)) {
    fixture_fail(c, "labels", key);
    return NULL;
  }
  int n = (int)t.numel;
  int32_t *host = malloc((size_t)n * sizeof *host);
  if (!host) return NULL;
  for (int i = 0; i < n; i++) host[i] = (int32_t)lrintf(t.data[i]);
  mg_tensor *y = mg_tensor_new(c->ctx, MG_INT32, 1, &n);
  if (y) mg_tensor_upload(c->ctx, y, host, n);
  free(host);
  return y;
}

/* Compares n engine values with torch's under the tolerance stated at the top; one check per tensor. The fixture
 * may give "scale.<what>", the magnitude of the terms of a sum that cancels to 0, to scale atol by instead. */
static void compare(parity_case *c, const char *what, const mg_real *got, const float *want, int64_t n) {
  mg_real *ref = malloc((size_t)n * sizeof *ref);
  if (!tu_check(ref != NULL, "%s %s: out of memory", c->name, what)) return;
  char scale_key[2 * NAME_SIZE];
  mg_checkpoint_tensor scale;
  snprintf(scale_key, sizeof scale_key, "scale.%s", what);
  double magnitude = fx_get(c, scale_key, &scale) && scale.numel == 1 ? fabs((double)scale.data[0]) : 0;
  for (int64_t i = 0; i < n; i++) {
    ref[i] = (mg_real)want[i];
    magnitude = fmax(magnitude, fabs((double)want[i]));
  }
  int64_t at;
  double ratio = tu_compare(got, ref, n, PARITY_ATOL_SCALE * magnitude + DBL_MIN, PARITY_RTOL, &at);
  c->compared++;
  if (!(ratio <= c->worst)) c->worst = isnan(ratio) ? INFINITY : ratio;
  if (!tu_check(ratio <= 1, "%s %s: element %lld of %lld: engine %.9g, torch %.9g (%.3g x the tolerance; scale %.3g)",
                c->name, what, (long long)at, (long long)n, (double)got[at], (double)ref[at], ratio, magnitude))
    c->mismatched++;
  free(ref);
}

/* Downloads n reals from device memory and compares them with the fixture tensor "<case>.<key>". */
static void compare_device(parity_case *c, const char *key, const mg_real *device, int64_t n) {
  mg_checkpoint_tensor t;
  if (!fx_get(c, key, &t) || t.numel != n) {
    c->mismatched++;
    tu_check(false, "%s %s: the fixture has %lld values, the engine %lld", c->name, key,
             fx_get(c, key, &t) ? (long long)t.numel : -1LL, (long long)n);
    return;
  }
  mg_real *host = malloc((size_t)n * sizeof *host);
  if (!tu_check(host != NULL, "%s %s: out of memory", c->name, key)) return;
  mg_backend(c->ctx)->download(host, device, (size_t)n * sizeof *host);
  compare(c, key, host, t.data, n);
  free(host);
}

/* ---- the ops, one forward per case kind; settings and inputs come from the fixture ---- */
static mg_tensor *conv2d_case(parity_case *c) {
  return mg_conv2d(c->ctx, input(c, "x"), input(c, "w"), optional_input(c, "b"), (int)param(c, "stride"),
                   (int)param(c, "pad"));
}
static mg_tensor *conv_transpose2d_case(parity_case *c) {
  return mg_conv_transpose2d(c->ctx, input(c, "x"), input(c, "w"), optional_input(c, "b"), (int)param(c, "stride"),
                             (int)param(c, "pad"));
}
static mg_tensor *linear_case(parity_case *c) {
  return mg_linear(c->ctx, input(c, "x"), input(c, "w"), optional_input(c, "b"));
}
static mg_tensor *group_norm_case(parity_case *c) {
  return mg_group_norm(c->ctx, input(c, "x"), (int)param(c, "groups"), input(c, "gamma"), input(c, "beta"),
                       param(c, "eps"));
}
static mg_tensor *batch_norm_case(parity_case *c) {
  return mg_batch_norm(c->ctx, input(c, "x"), input(c, "gamma"), input(c, "beta"), input(c, "running_mean"),
                       input(c, "running_var"), param(c, "training") != 0, param(c, "momentum"), param(c, "eps"));
}
static mg_tensor *relu_case(parity_case *c) { return mg_relu(c->ctx, input(c, "x")); }
static mg_tensor *leaky_relu_case(parity_case *c) { return mg_leaky_relu(c->ctx, input(c, "x"), param(c, "slope")); }
static mg_tensor *silu_case(parity_case *c) { return mg_silu(c->ctx, input(c, "x")); }
static mg_tensor *tanh_case(parity_case *c) { return mg_tanh(c->ctx, input(c, "x")); }
static mg_tensor *sigmoid_case(parity_case *c) { return mg_sigmoid(c->ctx, input(c, "x")); }
static mg_tensor *softmax_case(parity_case *c) { return mg_softmax(c->ctx, input(c, "x")); }
static mg_tensor *attention_case(parity_case *c) {
  return mg_attention(c->ctx, input(c, "q"), input(c, "k"), input(c, "v"), (int)param(c, "heads"));
}
static mg_tensor *upsample_case(parity_case *c) { return mg_upsample_nearest2x(c->ctx, input(c, "x")); }
static mg_tensor *avg_pool_case(parity_case *c) { return mg_avg_pool2x(c->ctx, input(c, "x")); }
static mg_tensor *concat_case(parity_case *c) { return mg_concat(c->ctx, input(c, "a"), input(c, "b")); }
static mg_tensor *add_case(parity_case *c) { return mg_add(c->ctx, input(c, "a"), input(c, "b")); }
static mg_tensor *sub_case(parity_case *c) { return mg_sub(c->ctx, input(c, "a"), input(c, "b")); }
static mg_tensor *mul_case(parity_case *c) { return mg_mul(c->ctx, input(c, "a"), input(c, "b")); }
static mg_tensor *scale_case(parity_case *c) { return mg_scale(c->ctx, input(c, "x"), param(c, "alpha")); }
static mg_tensor *timestep_embedding_case(parity_case *c) {
  return mg_timestep_embedding(c->ctx, input(c, "t"), (int)param(c, "dim"), param(c, "max_period"));
}
static mg_tensor *embedding_case(parity_case *c) {
  return mg_embedding(c->ctx, labels(c, "labels"), input(c, "table"));
}
static mg_tensor *spectral_norm_case(parity_case *c) {
  return mg_spectral_norm(c->ctx, input(c, "w"), input(c, "u"), input(c, "v"), (int)param(c, "iterations"),
                          param(c, "eps"));
}
static mg_tensor *augment_case(parity_case *c) { return mg_augment(c->ctx, input(c, "x"), input(c, "params")); }
static mg_tensor *sum_rows_case(parity_case *c) { return mg_sum_rows(c->ctx, input(c, "x")); }
static mg_tensor *sum_case(parity_case *c) { return mg_sum(c->ctx, input(c, "x")); }
static mg_tensor *mean_case(parity_case *c) { return mg_mean(c->ctx, input(c, "x")); }
static mg_tensor *mse_case(parity_case *c) { return mg_mse_loss(c->ctx, input(c, "pred"), input(c, "target")); }
static mg_tensor *bce_logits_case(parity_case *c) {
  return mg_bce_logits_loss(c->ctx, input(c, "logits"), input(c, "target"));
}
static mg_tensor *hinge_case(parity_case *c) { return mg_hinge_loss(c->ctx, input(c, "scores"), param(c, "sign")); }
static mg_tensor *cross_entropy_case(parity_case *c) {
  return mg_cross_entropy_loss(c->ctx, input(c, "logits"), labels(c, "labels"));
}

/* ---- the UNet block, written as model code from the ops, with torch's state_dict names ---- */
static mg_tensor *layer_param(parity_case *c, const char *layer, const char *what) {
  char key[NAME_SIZE];
  snprintf(key, sizeof key, "%s.%s", layer, what);
  return input(c, key);
}

/* nn.Conv2d(k, stride 1, padding k/2) named layer; k comes from the weight's shape */
static mg_tensor *conv_layer(parity_case *c, mg_tensor *x, const char *layer) {
  mg_tensor *w = layer_param(c, layer, "weight");
  return mg_conv2d(c->ctx, x, w, layer_param(c, layer, "bias"), 1, w ? w->shape[2] / 2 : 0);
}

static mg_tensor *group_norm_layer(parity_case *c, mg_tensor *x, const char *layer, int groups) {
  return mg_group_norm(c->ctx, x, groups, layer_param(c, layer, "weight"), layer_param(c, layer, "bias"),
                       1e-5 /* nn.GroupNorm's default */);
}

/* x [n,cin,h,w], temb [n,temb_dim] -> [n,cout,h,w] */
static mg_tensor *unet_block_case(parity_case *c) {
  mg_ctx *ctx = c->ctx;
  int groups = (int)param(c, "groups"), heads = (int)param(c, "heads");
  mg_tensor *x = input(c, "x"), *temb = input(c, "temb");
  /* residual block: GroupNorm -> SiLU -> conv3x3 -> + Linear(SiLU(temb)) per channel -> GroupNorm -> SiLU ->
   * conv3x3 -> + skip (a 1x1 conv when the channel count changes) */
  mg_tensor *h = conv_layer(c, mg_silu(ctx, group_norm_layer(c, x, "res.norm1", groups)), "res.conv1");
  mg_tensor *t = mg_linear(ctx, mg_silu(ctx, temb), layer_param(c, "res.time_emb_proj", "weight"),
                           layer_param(c, "res.time_emb_proj", "bias"));
  if (t) t = mg_reshape(ctx, t, 4, (int[]){t->shape[0], t->shape[1], 1, 1});
  h = conv_layer(c, mg_silu(ctx, group_norm_layer(c, mg_add(ctx, h, t), "res.norm2", groups)), "res.conv2");
  mg_tensor *skip = fx_has(c, "res.skip.weight") ? conv_layer(c, x, "res.skip") : x;
  h = mg_add(ctx, skip, h);
  /* attention block: GroupNorm -> 1x1 convs to q, k, v -> multi-head attention -> 1x1 projection -> + h */
  mg_tensor *a = group_norm_layer(c, h, "attn.norm", groups);
  mg_tensor *o = mg_attention(ctx, conv_layer(c, a, "attn.to_q"), conv_layer(c, a, "attn.to_k"),
                              conv_layer(c, a, "attn.to_v"), heads);
  return mg_add(ctx, h, conv_layer(c, o, "attn.proj"));
}

typedef mg_tensor *(*case_forward)(parity_case *c);
static const struct {
  const char *op;
  case_forward forward;
} ops[] = {
    {"conv2d", conv2d_case},
    {"conv_transpose2d", conv_transpose2d_case},
    {"linear", linear_case},
    {"group_norm", group_norm_case},
    {"batch_norm_train", batch_norm_case},
    {"batch_norm_eval", batch_norm_case},
    {"relu", relu_case},
    {"leaky_relu", leaky_relu_case},
    {"silu", silu_case},
    {"tanh", tanh_case},
    {"sigmoid", sigmoid_case},
    {"softmax", softmax_case},
    {"attention", attention_case},
    {"upsample_nearest2x", upsample_case},
    {"avg_pool2x", avg_pool_case},
    {"concat", concat_case},
    {"add", add_case},
    {"sub", sub_case},
    {"mul", mul_case},
    {"scale", scale_case},
    {"timestep_embedding", timestep_embedding_case},
    {"embedding", embedding_case},
    {"spectral_norm", spectral_norm_case},
    {"augment", augment_case},
    {"sum_rows", sum_rows_case},
    {"sum", sum_case},
    {"mean", mean_case},
    {"mse_loss", mse_case},
    {"bce_logits_loss", bce_logits_case},
    {"hinge_loss", hinge_case},
    {"cross_entropy_loss", cross_entropy_case},
    {"unet_block", unet_block_case},
};
#define N_OPS ((int)(sizeof ops / sizeof ops[0]))

static int find_op(const char *op) {
  for (int i = 0; i < N_OPS; i++)
    if (!strcmp(ops[i].op, op)) return i;
  return -1;
}

/* Output shapes must match exactly; a scalar may be [1] on one side and any 1-element shape on the other. */
static bool output_shape_ok(const mg_tensor *y, const mg_checkpoint_tensor *want) {
  if (want->numel != y->numel) return false;
  if (y->numel == 1) return true;
  if (want->ndim != y->ndim) return false;
  for (int i = 0; i < y->ndim; i++)
    if (want->shape[i] != y->shape[i]) return false;
  return true;
}

/* Compares y with torch's output, the buffers the forward updated, then runs the backward seeded with torch's dy
 * and compares every gradient. Every problem is a failed check; returns false at the first one that stops it. */
static bool check_case(parity_case *c, mg_tensor *y) {
  mg_ctx *ctx = c->ctx;
  mg_checkpoint_tensor want_y, want_dy;
  if (!fx_get(c, "y", &want_y) || !fx_get(c, "dy", &want_dy) || want_y.numel != want_dy.numel)
    fixture_fail(c, "output", "y/dy");
  if (c->fixture_error[0]) return tu_check(false, "%s", c->fixture_error);
  if (!tu_check(y != NULL, "%s forward: %s", c->name, mg_context_error(ctx))) return false;
  char shape[64];
  if (!tu_check(output_shape_ok(y, &want_y), "%s forward: output %s has %lld values, torch's %lld", c->name,
                mg_shape_str(y, shape, sizeof shape), (long long)y->numel, (long long)want_y.numel))
    return false;
  compare_device(c, "y", (const mg_real *)y->data, y->numel);
  for (int i = 0; i < c->n_inputs; i++) { /* buffers the forward updated in place */
    char key[2 * NAME_SIZE];
    snprintf(key, sizeof key, "after.%s", c->input_names[i]);
    if (fx_has(c, key)) compare_device(c, key, (const mg_real *)c->inputs[i]->data, c->inputs[i]->numel);
  }

  mg_status s;
  if (y->numel == 1 && want_dy.data[0] == 1.0f) {
    s = mg_backward(ctx, y); /* a scalar loss, the usual way */
  } else {
    mg_tensor *dy = mg_tensor_new(ctx, MG_REAL, y->ndim, y->shape);
    if (dy) mg_tensor_upload(ctx, dy, want_dy.data, want_dy.numel);
    s = mg_backward_from(ctx, y, dy);
  }
  if (!tu_check(s == MG_OK, "%s backward: %s", c->name, mg_context_error(ctx))) return false;
  for (int i = 0; i < c->n_inputs; i++) {
    mg_tensor *x = c->inputs[i];
    if (!x->requires_grad) continue;
    char key[2 * NAME_SIZE];
    snprintf(key, sizeof key, "grad.%s", c->input_names[i]);
    if (tu_check(x->grad != NULL, "%s: no gradient reached %s", c->name, c->input_names[i]))
      compare_device(c, key, x->grad, x->numel);
    else
      c->mismatched++;
  }
  return true;
}

/* Runs one case in a fresh step and prints its line. Returns true when everything matched. */
static bool run_case(mg_ctx *ctx, const mg_checkpoint *fx, const char *name, int op) {
  parity_case c = {.ctx = ctx, .fx = fx, .name = name};
  mg_step_begin(ctx);
  mg_tensor *y = ops[op].forward(&c);
  bool ok = check_case(&c, y) && mg_ok(ctx) && c.mismatched == 0 && c.compared > 0;
  printf("%-4s %-38s %2d tensors, worst error %.3g of tolerance%s%s\n", ok ? "ok" : "FAIL", name, c.compared,
         c.worst, mg_ok(ctx) ? "" : ": ", mg_context_error(ctx));
  mg_clear_error(ctx);
  return ok;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s torch_fixtures.safetensors\n", argv[0]);
    return EXIT_FAILURE;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* keep the per-case lines in order with the failure messages on stderr */
  mg_checkpoint *fx = NULL;
  char err[1024];
  if (mg_checkpoint_load(argv[1], &fx, err, sizeof err) != MG_OK) {
    tu_check(false,
             "cannot read the PyTorch fixture: %s\n"
             "  Testing/Python/torch_reference.py writes it (CTest's torch_fixtures setup test) and needs Debian's\n"
             "  python3-torch at /usr/bin/python3: run the README's test command, which installs it.",
             err);
    return tu_finish();
  }
  mg_ctx *ctx = tu_ctx(2);
  int cases_per_op[N_OPS] = {0}, failed_per_op[N_OPS] = {0};
  for (int i = 0; i < mg_checkpoint_metadata_count(fx); i++) {
    const char *key, *value;
    mg_checkpoint_metadata_at(fx, i, &key, &value);
    if (!key || strncmp(key, "case.", 5) != 0) continue;
    int op = find_op(value);
    if (!tu_check(op >= 0, "case %s: op \"%s\" has no runner in this test", key + 5, value)) continue;
    cases_per_op[op]++;
    failed_per_op[op] += !run_case(ctx, fx, key + 5, op);
  }
  /* every op the engine declares is covered on at least two shapes: a fixture that lost cases must fail */
  printf("\nper op:");
  for (int op = 0; op < N_OPS; op++) {
    tu_check(cases_per_op[op] >= 2, "op %s: %d cases in the fixture, at least 2 expected", ops[op].op,
             cases_per_op[op]);
    printf("%s %s %s", op % 6 ? "," : "\n ", ops[op].op, failed_per_op[op] || cases_per_op[op] < 2 ? "FAIL" : "ok");
  }
  printf("\n");
  mg_context_free(ctx);
  mg_checkpoint_free(fx);
  return tu_finish();
}
