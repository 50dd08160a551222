/* mg_eval.h: the numbers behind `medgen eval`: how close a set of synthetic images is to a set of real ones, how
 * varied it is, and whether it copies its training images.
 *
 * Plain C over medgen.h and the kernels' GEMM (mg_kernels.h); no files, no printing. Feature vectors come from the
 * caller (MedGen's feature extractor: mg_classifier_features in medgen.h); sets of vectors are row-major, one row
 * of dim floats per image, dim 1 to 4096. Every function checks its arguments and returns an mg_status with a
 * message in err naming the bad one (err may be NULL). Threads: the calling thread's OpenMP count (as
 * mg_context_set_threads or omp_set_num_threads left it); results are bit-identical for any count.
 */
#ifndef MG_EVAL_H
#define MG_EVAL_H

#include "medgen.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fréchet distance between Gaussians fitted to two sets (Heusel et al. 2017, the "F" of FID):
 * |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), covariances with divisor n - 1. The square roots
 * come from symmetric eigen-decompositions in double precision (cyclic Jacobi; negative eigenvalues from rounding
 * count as 0), so the result is real; rounding below 0 (equal sets) is reported as 0. na, nb >= 2; dim 1 to 4096,
 * though Jacobi costs O(dim^3) per sweep: instant at 64, seconds at 256, minutes beyond 1024. MG_ERR_NUMERIC when the
 * sets hold NaN or Inf. */
mg_status mg_eval_frechet_distance(const float *a, int na, const float *b, int nb, int dim, double *out, char *err,
                                   size_t err_size);

/* Kernel Inception Distance (Binkowski et al. 2018): the unbiased estimate of MMD^2 with the kernel
 * k(x, y) = (x.y / dim + 1)^3, over `subsets` pairs of random subsets of subset_size rows (subset_size is capped at
 * the smaller set, and must be >= 2 after the cap). The draw, so other tools can replay it: one splitmix64 stream
 * seeded by seed; for each pair, first a's subset then b's, each the first subset_size entries of a partial
 * Fisher-Yates shuffle of 0..n-1 started afresh (position i, from 0, swapped with i + next() % (n - i)).
 * mean and std (divisor subsets - 1; 0 for one subset) over the subsets. Can be slightly negative for equal
 * distributions (the estimate is unbiased; subsets of one same set overlap, which pulls it a little below 0). */
mg_status mg_eval_kid(const float *a, int na, const float *b, int nb, int dim, int subsets, int subset_size,
                      uint64_t seed, double *mean, double *std, char *err, size_t err_size);

/* Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of balls around its
 * points, each ball's radius the distance to the point's k-th nearest neighbour in its own set (the point itself
 * excluded). precision: the share of synthetic points inside the real manifold (realism); recall: the share of
 * real points inside the synthetic manifold (coverage); inside means distance <= radius. k >= 1 and below both set
 * sizes. Exact: comparisons the GEMM's rounding could decide wrongly are re-measured in double. */
mg_status mg_eval_precision_recall(const float *real, int nr, const float *synthetic, int ns, int dim, int k,
                                   double *precision, double *recall, char *err, size_t err_size);

/* For each of nq query rows, its nearest row of ref (Euclidean): index[i] (may be NULL) and distance[i]. Exact: the
 * candidates come from a GEMM (|q|^2 + |r|^2 - 2 q.r) and the distance to the nearest is recomputed in double, so
 * an exact copy gives 0. Ties go to the lower index. */
mg_status mg_eval_nearest(const float *queries, int nq, const float *ref, int nr, int dim, int *index,
                          double *distance, char *err, size_t err_size);

/* Multi-scale SSIM (Wang, Simoncelli and Bovik 2003) of two size x size images whose values span data_range
 * (c1 = (0.01 L)^2, c2 = (0.03 L)^2): a 7x7 Gaussian window (sigma 1.5) without padding, 2x2 average pooling
 * between scales (an odd last row and column dropped), as many scales as the image allows up to 5 (the smallest
 * scale at least 7 pixels: 2 scales at 16 px, 3 at 28 and 32, 4 at 64, 5 from 112 on), the standard weights
 * (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) cut to that many and renormalized to sum 1. Each scale but the coarsest
 * contributes the mean contrast-structure term, the coarsest the mean SSIM (luminance too); negative terms count
 * as 0. Computed in double; 1 for identical images, symmetric in x and y. size 7 to 16384, data_range > 0. */
mg_status mg_eval_ms_ssim(const float *x, const float *y, int size, double data_range, double *out, char *err,
                          size_t err_size);

/* Normalized histogram of n values over [lo, hi) in `bins` equal bins (values below lo count in the first bin,
 * values from hi up in the last), summing to 1. n >= 1, lo < hi both finite, bins >= 1; a NaN value is refused. */
mg_status mg_eval_histogram(const float *values, int64_t n, double lo, double hi, int bins, double *out, char *err,
                            size_t err_size);
/* Earth mover's (Wasserstein-1) distance between two normalized histograms of the same bins, mass sitting at the bin
 * centres, as a fraction of the span from the first centre to the last ((bins - 1) bin widths): 0 for equal
 * histograms, 1 when all mass sits at opposite ends; for point masses at a and b, |a - b| / (hi - lo) * bins /
 * (bins - 1) within one bin width. 0 when p or q is NULL or bins < 2. */
double mg_eval_histogram_distance(const double *p, const double *q, int bins);

/* The memorization audit in one space: sample_nn[i] is synthetic image i's distance to its nearest training image,
 * heldout_nn[j] the same for held-out real image j (which the model never saw). threshold = the `percentile`
 * (e.g. 1) percentile of heldout_nn (linear interpolation between order statistics, as numpy's default);
 * fraction_closer = the share of samples with sample_nn < threshold (about percentile/100 when nothing is copied;
 * near 1 when samples are copies); the medians of both. ns, nh >= 1, percentile 0 to 100; NaN distances are
 * refused. */
typedef struct mg_eval_memorization {
  double threshold;
  double fraction_closer;
  double median_sample, median_heldout;
} mg_eval_memorization;
mg_status mg_eval_memorization_audit(const double *sample_nn, int ns, const double *heldout_nn, int nh,
                                     double percentile, mg_eval_memorization *out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
