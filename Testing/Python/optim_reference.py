#!/usr/bin/env python3
"""optim_reference.py: torch.optim.Adam / AdamW on the parameters and gradient sequence test_optim.c wrote.

Usage: optim_reference.py IN.json OUT.json
IN.json:  {"cases": [{"name", "decoupled", "betas": [b1, b2], "eps", "weight_decay",
                      "params": [[...], ...], "steps": [{"lr", "grad_scale", "grads": [[...], ...]}, ...]}]}
OUT.json: {"cases": [{"name", "params": [[...]], "exp_avg": [[...]], "exp_avg_sq": [[...]]}]}
Runs in float64 on the (float32-rounded) values the engine used, so the reference carries no float32 rounding of
its own. grad_scale multiplies each gradient before the step, as the engine's clipping does.
"""
import json
import sys

import torch


def run_case(case):
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in case["params"]]
    cls = torch.optim.AdamW if case["decoupled"] else torch.optim.Adam
    opt = cls(params, lr=case["steps"][0]["lr"], betas=tuple(case["betas"]), eps=case["eps"],
              weight_decay=case["weight_decay"])
    for step in case["steps"]:
        for group in opt.param_groups:
            group["lr"] = step["lr"]
        for p, g in zip(params, step["grads"]):
            p.grad = torch.tensor(g, dtype=torch.float64) * step["grad_scale"]
        opt.step()
    state = [opt.state[p] for p in params]
    return {
        "name": case["name"],
        "params": [p.detach().tolist() for p in params],
        "exp_avg": [s["exp_avg"].tolist() for s in state],
        "exp_avg_sq": [s["exp_avg_sq"].tolist() for s in state],
    }


def main(argv):
    with open(argv[1]) as f:
        request = json.load(f)
    result = {"cases": [run_case(c) for c in request["cases"]]}
    with open(argv[2], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
