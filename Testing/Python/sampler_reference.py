#!/usr/bin/env python3
"""sampler_reference.py: independent references for test_samplers.c (Logic/Engine/diffusion.c).

Usage:
  sampler_reference.py schedules OUT   writes noise schedules and reverse timesteps for the C test to compare
  sampler_reference.py samplers CASES  re-runs every sampler case the C test wrote (its schedules, starting noise,
                                       noise draws and toy model) and compares the final images; exit status 1
                                       on any mismatch

The schedules come from torch.linspace (linear) and from improved DDPM's formula (cosine); the timesteps from
diffusers' "trailing" spacing. The samplers are written from the papers' update rules:
  DDPM: Ho et al. 2020, eq. 6-7 (posterior mean and variance beta~, "fixed small").
  DDIM: Song et al. 2021, eq. 12 and 16, with the final step to alpha_bar = 1.
  DPM-Solver++(2M): Lu et al. 2022, Algorithm 2 (data prediction, multistep), with diffusers' last step to
  sigma = 0, which is first order and returns the data prediction.
"""
import math
import sys

import numpy as np

# Tolerance of the sampler comparison, relative to max(|value|, 1). The sampler's interface is float32: the images
# x (which the model reads) stay float between steps and the model writes its prediction in float. This reference
# rounds at those same points (f32), uses the C test's schedule values and evaluates the toy model in the same
# order of operations, and computes the update rules (in their own, the papers', form) in float64. Their float64
# results differ from C's by ~1e-16 relative, which changes a float32 rounding of x only rarely, so the results
# usually agree to the bit. When a rounding does flip (6e-8), the later steps carry it along without much gain;
# 1e-5 allows for that. The one step that would amplify it, the first at the cosine schedule's last timestep
# (x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) multiplies errors by 1/sqrt(abar) ~ 2e4), sees identical inputs:
# the starting noise, and the model's prediction from the shared schedule. A wrong coefficient, timestep or noise
# draw gives errors > 1e-3.
TOLERANCE = 1e-5


# ---- schedules ----
def linear_schedule(T, beta_start, beta_end):
    import torch
    beta = torch.linspace(beta_start, beta_end, T, dtype=torch.float64).numpy()
    return beta, np.cumprod(1.0 - beta)


def cosine_schedule(T, s=0.008):
    """Nichol and Dhariwal 2021, eq. 17: alpha_bar(t) = f(t)/f(0), f(t) = cos((t/T + s)/(1 + s) * pi/2)^2, beta_t =
    1 - alpha_bar(t)/alpha_bar(t-1) clipped to 0.999; our index t = 0 is the paper's t = 1."""
    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    beta = np.array([min(1 - (f(t) / f(0)) / (f(t - 1) / f(0)), 0.999) for t in range(1, T + 1)])
    return beta, np.cumprod(1.0 - beta)


def schedule(kind, T, beta_start, beta_end):
    return linear_schedule(T, beta_start, beta_end) if kind == "linear" else cosine_schedule(T)


def trailing_timesteps(T, N):
    """diffusers' timestep_spacing="trailing": np.arange(T, 0, -T/N).round() - 1."""
    return (np.round(np.arange(T, 0, -T / N)) - 1).astype(np.int64)


SCHEDULES = [("linear", 1000, 1e-4, 0.02), ("linear", 10, 1e-3, 0.2), ("linear", 4000, 5e-5, 0.01),
             ("cosine", 1000, 0, 0), ("cosine", 10, 0, 0), ("cosine", 4000, 0, 0)]
TIMESTEPS = [(1000, 50), (1000, 16), (1000, 1), (1000, 3), (1000, 1000), (1000, 999), (10, 4), (10, 10), (50, 20),
             (4000, 48)]


def write_schedules(path):
    with open(path, "w") as f:
        for kind, T, b0, b1 in SCHEDULES:
            beta, alpha_bar = schedule(kind, T, b0, b1)
            f.write(f"schedule {kind} {T} {b0!r} {b1!r}\n")
            f.write(" ".join(repr(float(v)) for v in beta) + "\n")
            f.write(" ".join(repr(float(v)) for v in alpha_bar) + "\n")
        for T, N in TIMESTEPS:
            f.write(f"timesteps {T} {N}\n" + " ".join(str(int(t)) for t in trailing_timesteps(T, N)) + "\n")


# ---- samplers ----
def f32(x):
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def toy_model(mu, sd, alpha_bar, prediction):
    """The exact prediction for data x0 ~ N(mu, sd^2) per element: E[eps | x_t] and E[v | x_t], behind the float32
    interface of mg_model_fn (a float prediction)."""
    s2 = sd * sd

    def exact(x, t):  # in the C fixture's order of operations, so that both round to the same float
        a, b = math.sqrt(alpha_bar[t]), math.sqrt(1 - alpha_bar[t])
        var = a * a * s2 + b * b  # Var(x_t)
        eps = b * (x - a * mu) / var
        x0 = mu + a * s2 * (x - a * mu) / var
        return eps if prediction == "epsilon" else a * eps - b * x0

    def model(x, t):
        return f32(exact(x, t))
    return model


def estimates(out, x, ab, prediction, clip):
    """x0 and eps from the model's output; with clipping x0 is clamped and eps re-derived from it."""
    a, b = math.sqrt(ab), math.sqrt(1 - ab)
    if prediction == "epsilon":
        eps, x0 = out, (x - b * out) / a
    else:  # v = a eps - b x0 and x = a x0 + b eps
        eps, x0 = b * x + a * out, a * x - b * out
    if clip:
        x0 = np.clip(x0, -1, 1)
        eps = (x - a * x0) / b
    return x0, eps


def ddpm(model, beta, alpha_bar, c, draws):
    T = len(beta)
    x = draws[0].copy()
    for step in range(1, T + 1):
        t = T - step
        x0, _ = estimates(model(x, t), x, alpha_bar[t], c["prediction"], c["clip"])
        ab_prev = alpha_bar[t - 1] if t > 0 else 1.0
        mean = (math.sqrt(ab_prev) * beta[t] / (1 - alpha_bar[t])) * x0 + \
               (math.sqrt(1 - beta[t]) * (1 - ab_prev) / (1 - alpha_bar[t])) * x
        x = f32(mean + (math.sqrt((1 - ab_prev) / (1 - alpha_bar[t]) * beta[t]) * draws[step] if t > 0 else 0))
    return x


def ddim(model, alpha_bar, c, draws):
    ts = trailing_timesteps(len(alpha_bar), c["steps"])
    x = draws[0].copy()
    for i, t in enumerate(ts):
        x0, eps = estimates(model(x, t), x, alpha_bar[t], c["prediction"], c["clip"])
        ab_prev = alpha_bar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        sigma = c["eta"] * math.sqrt((1 - ab_prev) / (1 - alpha_bar[t]) * (1 - alpha_bar[t] / ab_prev))
        x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0)) * eps
        x = f32(x + sigma * draws[i + 1] if sigma > 0 else x)
    return x


def dpm_solver_pp_2m(model, alpha_bar, c, draws):
    ts = trailing_timesteps(len(alpha_bar), c["steps"])
    alpha, sigma = np.sqrt(alpha_bar), np.sqrt(1 - alpha_bar)
    lam = np.log(alpha / sigma)
    x = draws[0].copy()
    history = []  # data predictions of the previous steps
    for i, t in enumerate(ts):
        x0, _ = estimates(model(x, t), x, alpha_bar[t], c["prediction"], c["clip"])
        if i + 1 == len(ts):
            return f32(x0)  # to sigma = 0: x = (0 / sigma) x + 1 * (1 - e^-inf) x0
        t_next = ts[i + 1]
        h = lam[t_next] - lam[t]
        if not history:
            D = x0
        else:
            r = (lam[t] - lam[ts[i - 1]]) / h
            D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * history[-1]
        x = f32(sigma[t_next] / sigma[t] * x - alpha[t_next] * (math.exp(-h) - 1) * D)
        history.append(x0)
    return x


def read_cases(path):
    """The C test's case file: the schedules it used (beta, alpha_bar), then per case a header line, mu, std, the
    noise draws and the result."""
    schedules, cases = {}, []
    with open(path) as f:
        lines = [line.split() for line in f]
    i = 0
    while i < len(lines):
        h = lines[i]
        if h[0] == "schedule":
            schedules[h[1]] = (np.array(lines[i + 1], dtype=np.float64), np.array(lines[i + 2], dtype=np.float64))
            assert len(schedules[h[1]][0]) == int(h[2]), f"line {i + 2}: expected {h[2]} betas"
            i += 3
            continue
        assert h[0] == "case", f"line {i + 1}: expected 'case' or 'schedule'"
        c = dict(name=h[1], sampler=h[2], prediction=h[3], schedule=h[4], steps=int(h[5]), eta=float(h[6]),
                 clip=h[7] == "1", n=int(h[8]), per=int(h[9]), draws=int(h[10]))
        c["mu"] = np.array(lines[i + 1], dtype=np.float64)
        c["std"] = np.array(lines[i + 2], dtype=np.float64)
        # floats written with 9 digits: parsing them as float32 recovers the C values exactly
        c["noise"] = [f32(np.array(lines[i + 3 + k], dtype=np.float32)).reshape(c["n"], c["per"])
                      for k in range(c["draws"])]
        c["result"] = f32(np.array(lines[i + 3 + c["draws"]], dtype=np.float32)).reshape(c["n"], c["per"])
        cases.append(c)
        i += 4 + c["draws"]
    return schedules, cases


def check_samplers(path):
    failed = 0
    schedules, cases = read_cases(path)
    for c in cases:
        beta, alpha_bar = schedules[c["schedule"]]
        model = toy_model(c["mu"], c["std"], alpha_bar, c["prediction"])
        if c["sampler"] == "ddpm":
            ref = ddpm(model, beta, alpha_bar, c, c["noise"])
        elif c["sampler"] == "ddim":
            ref = ddim(model, alpha_bar, c, c["noise"])
        else:
            ref = dpm_solver_pp_2m(model, alpha_bar, c, c["noise"])
        err = np.abs(c["result"] - ref) / np.maximum(np.abs(ref), 1.0)
        worst = np.unravel_index(np.argmax(err), err.shape)
        ok = err[worst] <= TOLERANCE
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {c['name']}: largest error {err[worst]:.2e} at {worst} "
              f"(C {c['result'][worst]:.9g}, reference {ref[worst]:.9g})")
    print(f"{len(cases) - failed} of {len(cases)} sampler cases match")
    return 1 if failed or not cases else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("schedules", "samplers"):
        sys.exit(__doc__)
    if sys.argv[1] == "schedules":
        write_schedules(sys.argv[2])
    else:
        sys.exit(check_samplers(sys.argv[2]))
