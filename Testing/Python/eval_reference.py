#!/usr/bin/env python3
"""eval_reference.py: the metrics of Logic/Eval/mg_eval.h, written independently in numpy/scipy, on the cases
test_eval_reference.c wrote.

Usage: eval_reference.py IN.json OUT.json
IN.json: {"frechet": [{"a", "b"}], "kid": [{"a", "b", "subsets", "subset_size", "seed"}],
          "precision_recall": [{"real", "synthetic", "k"}], "nearest": [{"queries", "ref"}],
          "ms_ssim": [{"x", "y", "size", "data_range"}], "memorization": [{"sample_nn", "heldout_nn", "percentile"}]}
          where a set is {"rows", "dim", "values": [row-major floats]} and seed is a decimal string (uint64).
OUT.json: {"frechet": [fd], "kid": [[mean, std]], "precision_recall": [[precision, recall]],
           "nearest": [{"index": [...], "distance": [...]}], "ms_ssim": [value],
           "memorization": [[threshold, fraction_closer, median_sample, median_heldout]]}
Everything runs in float64 on the float32 values the C side used.
"""
import json
import os
import sys

import numpy as np
import scipy.linalg
import scipy.spatial.distance

MASK64 = (1 << 64) - 1


def as_set(s):
    return np.asarray(s["values"], dtype=np.float64).reshape(s["rows"], s["dim"])


def frechet(a, b):
    """Heusel et al.: |mu_a - mu_b|^2 + tr(S_a + S_b - 2 sqrtm(S_a S_b)), covariances with divisor n - 1."""
    sa, sb = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    covmean = scipy.linalg.sqrtm(sa @ sb).real
    diff = a.mean(axis=0) - b.mean(axis=0)
    return float(diff @ diff + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean))


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def draw(n, m, rng):
    """The header's rule: the first m entries of a partial Fisher-Yates shuffle of 0..n-1."""
    perm = list(range(n))
    for i in range(m):
        j = i + rng.next() % (n - i)
        perm[i], perm[j] = perm[j], perm[i]
    return perm[:m]


def mmd2_unbiased(x, y):
    """Binkowski et al.: k(x, y) = (x.y / dim + 1)^3; off-diagonal means within each set, the full cross mean."""
    dim, m = x.shape[1], x.shape[0]
    kxx, kyy, kxy = (x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3, (x @ y.T / dim + 1) ** 3
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean())


def kid(a, b, subsets, subset_size, seed):
    m = min(subset_size, len(a), len(b))
    if subsets == 1 and m == len(a) == len(b):  # the whole sets: the draw only reorders them
        return [float(mmd2_unbiased(a, b)), 0.0]
    rng = SplitMix64(seed)
    values = []
    for _ in range(subsets):
        ia = draw(len(a), m, rng)
        ib = draw(len(b), m, rng)
        values.append(mmd2_unbiased(a[ia], b[ib]))
    return [float(np.mean(values)), float(np.std(values, ddof=1)) if subsets > 1 else 0.0]


def precision_recall(real, synthetic, k):
    """Kynkaanniemi et al., brute force: radii from each set's k-th nearest other point."""
    def radii(x):
        d = scipy.spatial.distance.cdist(x, x)
        np.fill_diagonal(d, np.inf)
        return np.partition(d, k - 1, axis=1)[:, k - 1]

    def share_inside(points, centres, r):
        return float(np.mean((scipy.spatial.distance.cdist(points, centres) <= r[None, :]).any(axis=1)))

    return [share_inside(synthetic, real, radii(real)), share_inside(real, synthetic, radii(synthetic))]


def nearest(queries, ref):
    d = scipy.spatial.distance.cdist(queries, ref)
    index = d.argmin(axis=1)  # the first of equal minima: the lower index
    return {"index": index.tolist(), "distance": d[np.arange(len(queries)), index].tolist()}


def ms_ssim(x, y, data_range):
    """Wang, Simoncelli and Bovik 2003, with the header's rules: 7x7 Gaussian (sigma 1.5) without padding, 2x2 mean
    pooling, scales while the smallest side stays >= 7 (at most 5), weights cut and renormalized, negatives -> 0."""
    g = np.exp(-((np.arange(7) - 3) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    window = np.outer(g, g)

    def filt(img):
        views = np.lib.stride_tricks.sliding_window_view(img, (7, 7))
        return np.einsum("ijkl,kl->ij", views, window)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    scales, side = 1, x.shape[0]
    while scales < 5 and side // 2 >= 7:
        side //= 2
        scales += 1
    weights = weights[:scales] / weights[:scales].sum()
    result = 1.0
    for j in range(scales):
        mx, my = filt(x), filt(y)
        vx, vy, cxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
        cs_map = (2 * cxy + c2) / (vx + vy + c2)
        if j == scales - 1:
            term = np.mean((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs_map)
        else:
            term = np.mean(cs_map)
        result *= max(term, 0.0) ** weights[j]
        h = x.shape[0] // 2
        x = x[:2 * h, :2 * h].reshape(h, 2, h, 2).mean(axis=(1, 3))
        y = y[:2 * h, :2 * h].reshape(h, 2, h, 2).mean(axis=(1, 3))
    return float(result)


def memorization(sample_nn, heldout_nn, percentile):
    s, h = np.asarray(sample_nn), np.asarray(heldout_nn)
    threshold = np.percentile(h, percentile)
    return [float(threshold), float(np.mean(s < threshold)), float(np.median(s)), float(np.median(h))]


def main(argv):
    with open(argv[1]) as f:
        req = json.load(f)
    out = {
        "frechet": [frechet(as_set(c["a"]), as_set(c["b"])) for c in req["frechet"]],
        "kid": [kid(as_set(c["a"]), as_set(c["b"]), c["subsets"], c["subset_size"], int(c["seed"]))
                for c in req["kid"]],
        "precision_recall": [precision_recall(as_set(c["real"]), as_set(c["synthetic"]), c["k"])
                             for c in req["precision_recall"]],
        "nearest": [nearest(as_set(c["queries"]), as_set(c["ref"])) for c in req["nearest"]],
        "ms_ssim": [ms_ssim(np.asarray(c["x"], dtype=np.float64).reshape(c["size"], c["size"]),
                            np.asarray(c["y"], dtype=np.float64).reshape(c["size"], c["size"]), c["data_range"])
                    for c in req["ms_ssim"]],
        "memorization": [memorization(c["sample_nn"], c["heldout_nn"], c["percentile"]) for c in req["memorization"]],
    }
    tmp = argv[2] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, argv[2])


if __name__ == "__main__":
    main(sys.argv)
