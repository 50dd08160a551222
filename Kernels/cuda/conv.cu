/* conv.cu: 2D convolution and transposed convolution through cuDNN's convolution API, biases as own kernels.
 *
 * Both layers are one cuDNN convolution C read in different directions. C maps an input "in" [n,C,hi,wi] to an
 * output "out" [n,K,ho,wo] through a filter [K,C,k,k] (cuDNN's KCRS), cross-correlation, zero padding, stride:
 *   out[K,oh,ow] = sum over c,kh,kw of filter[K,c,kh,kw] * in[c, oh*stride-pad+kh, ow*stride-pad+kw]
 * cudnnConvolutionForward computes out from in, BackwardData the adjoint (in-space from out-space), BackwardFilter
 * the filter gradient sum over n of out-gradient x in.
 * - conv2d (conv.c's conv2d_*): in = x [n,c_in,h_in,w_in], out = y [n,c_out,h_out,w_out], filter = w
 *   [c_out,c_in,k,k] (K = c_out, C = c_in). Forward: y = Forward(x). Backward: dx += BackwardData(dy),
 *   dw += BackwardFilter(in = x, out-gradient = dy).
 * - transposed conv2d (conv.c's conv_transpose2d_*): in = y-space [n,c_out,h_out,w_out], out = x-space
 *   [n,c_in,h_in,w_in], filter = w [c_in,c_out,k,k] read as KCRS with K = c_in, C = c_out.
 *   conv.c's forward scatters y[co, ih*stride-pad+kh, iw*stride-pad+kw] += w[ci,co,kh,kw] * x[ci,ih,iw]: that is C's
 *   adjoint applied to x, so y = BackwardData(x). Its backward gathers dx[ci,ih,iw] += sum over co,kh,kw of
 *   w[ci,co,kh,kw] * dy[co, ih*stride-pad+kh, iw*stride-pad+kw], which is C itself: dx += Forward(dy); and
 *   dw[ci,co,kh,kw] += sum of x[ci,ih,iw] * dy[co, ih*stride-pad+kh, ...]: dw += BackwardFilter(in = dy,
 *   out-gradient = x). C's output height (h_out + 2*pad - k)/stride + 1 is h_in exactly when
 *   h_out = (h_in-1)*stride - 2*pad + k (mg_conv_desc), so the shapes agree.
 * Either way every layer uses all three directions of its C, so one plan per C holds the three algorithms.
 *
 * Determinism: only algorithms cuDNN reports as CUDNN_DETERMINISTIC, chosen by its heuristics (no timing runs,
 * which could pick differently from run to run). FP32 mode sets CUDNN_FMA_MATH and also refuses any result whose
 * math type is not FMA, so no TF32 slips in; TF32 mode sets CUDNN_DEFAULT_MATH, which lets cuDNN use TF32 tensor
 * cores. Each call sets the descriptor's math type to the one its algorithm was reported with (cuDNN runs an
 * algorithm with the descriptor's math type, not the heuristic's).
 */
#include "cuda_kernels.h"

static_assert(sizeof(mg_real) == sizeof(float), "the CUDA backend is float32: descriptors say CUDNN_DATA_FLOAT");

/* ---- plans: C's descriptors and its three algorithms, per host thread (handles are per thread too) ---- */

enum { KEY_N, KEY_C, KEY_HI, KEY_WI, KEY_K, KEY_HO, KEY_WO, KEY_KSIZE, KEY_STRIDE, KEY_PAD, KEY_MATH, KEY_LEN };

struct conv_plan {
  int key[KEY_LEN]; /* C's shapes and the math mode; key[KEY_N] == 0 marks a free slot */
  cudnnTensorDescriptor_t in, out;
  cudnnFilterDescriptor_t filter;
  cudnnConvolutionDescriptor_t conv;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t data;
  cudnnConvolutionBwdFilterAlgo_t wgrad;
  cudnnMathType_t fwd_math, data_math, wgrad_math;
  size_t workspace; /* the most bytes any of the three needs */
};

/* Frees p's descriptors (those created) and marks the slot free. Destroying a descriptor only frees host memory,
 * so its status is not recorded; the table's destructor runs at thread exit, when mg_cuda()'s state is gone. */
static void plan_release(conv_plan *p) {
  if (p->in) cudnnDestroyTensorDescriptor(p->in);
  if (p->out) cudnnDestroyTensorDescriptor(p->out);
  if (p->filter) cudnnDestroyFilterDescriptor(p->filter);
  if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
  *p = conv_plan{};
}

/* Enough for every layer shape of a network at a couple of batch sizes; beyond it the oldest plan is rebuilt when
 * needed again (the heuristics give the same answer, so workspace queries and calls still agree). */
#define PLAN_SLOTS 64
struct plan_table {
  conv_plan slot[PLAN_SLOTS] = {};
  int next = 0; /* the slot a new plan replaces, round robin */
  ~plan_table() {
    for (conv_plan &p : slot) plan_release(&p);
  }
};
static thread_local plan_table plans;

/* The first heuristic result that ran (status), is deterministic and, in FP32 mode, uses FMA math only; -1 if none. */
template <class Perf>
static int pick(const Perf *perf, int count, mg_math_mode math) {
  for (int i = 0; i < count; i++)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
        (math == MG_MATH_TF32 || perf[i].mathType == CUDNN_FMA_MATH))
      return i;
  return -1;
}

/* MG_CUDNN_CHECK that also tells plan_build whether the call succeeded (an earlier, unrelated failure may already be
 * recorded, so the record itself cannot say). */
static bool cudnn_ok(cudnnStatus_t e, const char *call) {
  if (e == CUDNN_STATUS_SUCCESS) return true;
  mg_cuda_record(call, cudnnGetErrorString(e));
  return false;
}
#define PLAN_CHECK(call) (ok = cudnn_ok((call), #call) && ok)

/* Fills p for key (descriptors created, algorithms chosen, workspace sized); 0 with the failure recorded if cuDNN
 * offers no suitable algorithm or a call fails. */
static int plan_build(conv_plan *p, const int *key) {
  cudnnHandle_t h = mg_cuda()->cudnn;
  bool ok = true;
  const mg_math_mode math = (mg_math_mode)key[KEY_MATH];
  for (int i = 0; i < KEY_LEN; i++) p->key[i] = key[i];
  PLAN_CHECK(cudnnCreateTensorDescriptor(&p->in));
  PLAN_CHECK(cudnnCreateTensorDescriptor(&p->out));
  PLAN_CHECK(cudnnCreateFilterDescriptor(&p->filter));
  PLAN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  PLAN_CHECK(cudnnSetTensor4dDescriptor(p->in, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, key[KEY_N], key[KEY_C],
                                        key[KEY_HI], key[KEY_WI]));
  PLAN_CHECK(cudnnSetTensor4dDescriptor(p->out, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, key[KEY_N], key[KEY_K],
                                        key[KEY_HO], key[KEY_WO]));
  PLAN_CHECK(cudnnSetFilter4dDescriptor(p->filter, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, key[KEY_K], key[KEY_C],
                                        key[KEY_KSIZE], key[KEY_KSIZE]));
  PLAN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, key[KEY_PAD], key[KEY_PAD], key[KEY_STRIDE],
                                             key[KEY_STRIDE], 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  const cudnnMathType_t asked = math == MG_MATH_TF32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;

  cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  cudnnConvolutionBwdDataAlgoPerf_t data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  cudnnConvolutionBwdFilterAlgoPerf_t wgrad[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int n_fwd = 0, n_data = 0, n_wgrad = 0;
  PLAN_CHECK(cudnnSetConvolutionMathType(p->conv, asked));
  PLAN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->in, p->filter, p->conv, p->out,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n_fwd, fwd));
  PLAN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->filter, p->out, p->conv, p->in,
                                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n_data, data));
  PLAN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->in, p->out, p->conv, p->filter,
                                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n_wgrad,
                                                           wgrad));
  if (!ok) return 0;
  const int i_fwd = pick(fwd, n_fwd, math), i_data = pick(data, n_data, math), i_wgrad = pick(wgrad, n_wgrad, math);
  if (i_fwd < 0 || i_data < 0 || i_wgrad < 0) {
    mg_cuda_record("conv plan", "cuDNN offers no deterministic algorithm for this convolution and math mode");
    return 0;
  }
  p->fwd = fwd[i_fwd].algo;
  p->fwd_math = fwd[i_fwd].mathType;
  p->data = data[i_data].algo;
  p->data_math = data[i_data].mathType;
  p->wgrad = wgrad[i_wgrad].algo;
  p->wgrad_math = wgrad[i_wgrad].mathType;

  size_t bytes[3] = {0, 0, 0};
  PLAN_CHECK(cudnnSetConvolutionMathType(p->conv, p->fwd_math));
  PLAN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p->in, p->filter, p->conv, p->out, p->fwd, &bytes[0]));
  PLAN_CHECK(cudnnSetConvolutionMathType(p->conv, p->data_math));
  PLAN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->filter, p->out, p->conv, p->in, p->data,
                                                          &bytes[1]));
  PLAN_CHECK(cudnnSetConvolutionMathType(p->conv, p->wgrad_math));
  PLAN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->in, p->out, p->conv, p->filter, p->wgrad,
                                                            &bytes[2]));
  p->workspace = bytes[0] > bytes[1] ? bytes[0] : bytes[1];
  if (bytes[2] > p->workspace) p->workspace = bytes[2];
  return ok;
}

/* The plan of C (see the top) for the calling thread's math mode; NULL with the failure recorded when none can be
 * built. transposed: d describes a transposed conv, whose C runs from y-space to x-space. */
static const conv_plan *plan_for(const mg_conv_desc *d, int transposed) {
  const int key[KEY_LEN] = {
      d->n,
      transposed ? d->c_out : d->c_in, transposed ? d->h_out : d->h_in, transposed ? d->w_out : d->w_in,
      transposed ? d->c_in : d->c_out, transposed ? d->h_in : d->h_out, transposed ? d->w_in : d->w_out,
      d->k, d->stride, d->pad, (int)mg_cuda()->math};
  for (conv_plan &p : plans.slot) {
    int same = 1;
    for (int i = 0; i < KEY_LEN && same; i++) same = p.key[i] == key[i];
    if (same) return &p;
  }
  conv_plan *p = &plans.slot[plans.next];
  plans.next = (plans.next + 1) % PLAN_SLOTS;
  plan_release(p);
  if (!plan_build(p, key)) { /* not kept: the next call tries again and records its failure again */
    plan_release(p);
    return NULL;
  }
  return p;
}

/* cuDNN refuses zero-sized tensors; an empty batch or image has nothing to compute (conv.c does nothing either). */
static int conv_empty(const mg_conv_desc *d) {
  return d->n <= 0 || d->c_in <= 0 || d->c_out <= 0 || d->h_in <= 0 || d->w_in <= 0 || d->h_out <= 0 ||
         d->w_out <= 0;
}

/* The three directions of plan p's C, with scale beta on what dst held (0: overwrite, 1: accumulate). */
static void run_forward(const conv_plan *p, const mg_real *in, const mg_real *filter, float beta, mg_real *out,
                        void *ws) {
  const float one = 1;
  MG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->fwd_math));
  MG_CUDNN_CHECK(cudnnConvolutionForward(mg_cuda()->cudnn, &one, p->in, in, p->filter, filter, p->conv, p->fwd, ws,
                                         p->workspace, &beta, p->out, out));
}
static void run_backward_data(const conv_plan *p, const mg_real *filter, const mg_real *dout, float beta,
                              mg_real *din, void *ws) {
  const float one = 1;
  MG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->data_math));
  MG_CUDNN_CHECK(cudnnConvolutionBackwardData(mg_cuda()->cudnn, &one, p->filter, filter, p->out, dout, p->conv,
                                              p->data, ws, p->workspace, &beta, p->in, din));
}
static void run_backward_filter(const conv_plan *p, const mg_real *in, const mg_real *dout, mg_real *dfilter,
                                void *ws) {
  const float one = 1; /* beta 1: the filter gradient accumulates */
  MG_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->wgrad_math));
  MG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(mg_cuda()->cudnn, &one, p->in, in, p->out, dout, p->conv, p->wgrad,
                                                ws, p->workspace, &one, p->filter, dfilter));
}

/* ---- biases ---- */

/* y [n, c, plane] += b[c] */
static __global__ void conv_bias_add_kernel(int64_t total, int c, int64_t plane, const mg_real *b, mg_real *y) {
  MG_CUDA_FOR(i, total) y[i] += b[(i / plane) % c];
}

/* db [c] += sum over n and plane of dy [n, c, plane]: one block per channel, each thread summing a fixed strided
 * set in double, then the block's fixed tree. */
static __global__ void conv_bias_backward_kernel(int n, int c, int64_t plane, const mg_real *dy, mg_real *db) {
  const int ch = blockIdx.x;
  double acc = 0;
  for (int i = 0; i < n; i++) {
    const mg_real *row = dy + ((int64_t)i * c + ch) * plane;
    for (int64_t j = threadIdx.x; j < plane; j += blockDim.x) acc += (double)row[j];
  }
  acc = mg_cuda_block_sum(acc);
  if (threadIdx.x == 0) db[ch] += (mg_real)acc;
}

static void bias_add(const mg_conv_desc *d, const mg_real *b, mg_real *y) {
  const int64_t plane = (int64_t)d->h_out * d->w_out, total = (int64_t)d->n * d->c_out * plane;
  conv_bias_add_kernel<<<mg_cuda_blocks(total), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total, d->c_out, plane, b, y);
  MG_CUDA_LAUNCHED("bias_add");
}

static void bias_backward(const mg_conv_desc *d, const mg_real *dy, mg_real *db) {
  const int64_t plane = (int64_t)d->h_out * d->w_out;
  conv_bias_backward_kernel<<<d->c_out, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(d->n, d->c_out, plane, dy, db);
  MG_CUDA_LAUNCHED("bias_backward");
}

/* ---- the table's entries ---- */

static size_t workspace(const mg_conv_desc *d, int transposed) {
  if (conv_empty(d)) return 0;
  const conv_plan *p = plan_for(d, transposed);
  return p ? p->workspace : 0;
}

static size_t conv2d_workspace(const mg_conv_desc *d) { return workspace(d, 0); }
static size_t conv_transpose2d_workspace(const mg_conv_desc *d) { return workspace(d, 1); }

/* x [n,cin,h,w], w [cout,cin,k,k], b [cout] or NULL -> y [n,cout,ho,wo] */
static void conv2d_forward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b, mg_real *y,
                           void *ws) {
  if (conv_empty(d)) return;
  const conv_plan *p = plan_for(d, 0);
  if (!p) return;
  run_forward(p, x, w, 0, y, ws);
  if (b) bias_add(d, b, y);
}

/* dx += C^T(dy), dw += sum dy x in, db += sum dy; any of them may be NULL */
static void conv2d_backward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                            mg_real *dx, mg_real *dw, mg_real *db, void *ws) {
  if (db && d->c_out > 0) bias_backward(d, dy, db); /* conv.c adds the (empty) sum even for an empty batch */
  if (conv_empty(d) || (!dx && !dw)) return;
  const conv_plan *p = plan_for(d, 0);
  if (!p) return;
  if (dx) run_backward_data(p, w, dy, 1, dx, ws);
  if (dw) run_backward_filter(p, x, dy, dw, ws);
}

/* x [n,cin,h,w], w [cin,cout,k,k], b [cout] or NULL -> y [n,cout,ho,wo] = C^T(x) (+ b) */
static void conv_transpose2d_forward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                                     mg_real *y, void *ws) {
  if (conv_empty(d)) return;
  const conv_plan *p = plan_for(d, 1);
  if (!p) return;
  run_backward_data(p, w, x, 0, y, ws);
  if (b) bias_add(d, b, y);
}

/* dx += C(dy), dw += BackwardFilter(in = dy, out-gradient = x), db += sum dy; any of them may be NULL */
static void conv_transpose2d_backward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                                      mg_real *dx, mg_real *dw, mg_real *db, void *ws) {
  if (db && d->c_out > 0) bias_backward(d, dy, db); /* conv.c adds the (empty) sum even for an empty batch */
  if (conv_empty(d) || (!dx && !dw)) return;
  const conv_plan *p = plan_for(d, 1);
  if (!p) return;
  if (dx) run_forward(p, dy, w, 1, dx, ws);
  if (dw) run_backward_filter(p, dy, x, dw, ws);
}

void mg_cuda_register_conv(mg_kernels *k) {
  k->conv2d_workspace = conv2d_workspace;
  k->conv2d_forward = conv2d_forward;
  k->conv2d_backward = conv2d_backward;
  k->conv_transpose2d_workspace = conv_transpose2d_workspace;
  k->conv_transpose2d_forward = conv_transpose2d_forward;
  k->conv_transpose2d_backward = conv_transpose2d_backward;
}
