#!/usr/bin/env python3
"""torch_reference.py: PyTorch reference fixtures for Testing/Engine/test_torch_parity.c.

For every engine op (on at least two random shapes) and for a UNet residual + attention block, this script runs
PyTorch forward and backward in float32 and writes one safetensors file. Tensors of case <case> are named
  <case>.<input>        inputs, weights, buffers (integer labels stored as float values)
  <case>.<param>        scalar settings the C side reads (stride, pad, groups, eps, ...), shape [1]
  <case>.y, <case>.dy   forward output and the upstream gradient it was seeded with (a scalar for reductions)
  <case>.grad.<input>   autograd's gradient of every input that requires one (absent: no gradient wanted)
  <case>.after.<input>  a buffer's contents after the forward (batch-norm running statistics)
  <case>.scale.<tensor> the magnitude to scale that comparison's absolute tolerance by, where the exact value
                        cancels to 0 (default: the tensor's own largest value)
The metadata maps "case.<case>" to the op the C test must run, so a case the C side does not know fails there.

Usage: /usr/bin/python3 torch_reference.py --out torch_fixtures.safetensors   (Debian's python3-torch)
"""
import argparse
import json
import math
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as error:
    sys.exit(
        f"torch_reference.py: cannot import PyTorch/numpy with {sys.executable} ({error}).\n"
        "The parity tests need Debian's python3-torch: run the README's test command, which installs it."
    )

SEED = 20240611


class Fixture:
    """Tensors in file order plus the case -> op table; save() writes safetensors by hand (no extra package)."""

    def __init__(self):
        self.tensors = {}
        self.cases = {}

    def put(self, name, value):
        assert name not in self.tensors, f"duplicate tensor {name}"
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.array(value, dtype=np.float32, copy=True)  # a copy: in-place updates must not leak in
        self.tensors[name] = array.reshape(1) if array.ndim == 0 else array

    def case(self, op, tag, fn, inputs, params=None, no_grad=(), state=(), seed_one=False):
        """Runs fn(**inputs, **params) with autograd and stores everything the C side compares.

        Float inputs get gradients unless listed in no_grad or state (buffers the op updates in place, whose
        contents after the forward are stored as after.<name>). seed_one seeds backward with 1 (a scalar loss:
        the C side then calls mg_backward instead of mg_backward_from)."""
        name = f"{op}_{tag}"
        assert name not in self.cases, f"duplicate case {name}"
        self.cases[name] = op
        params = params or {}
        leaves = {}
        for key, value in inputs.items():
            wants_grad = value.is_floating_point() and key not in no_grad and key not in state
            leaves[key] = value.detach().clone().requires_grad_(wants_grad)
            self.put(f"{name}.{key}", value)
        for key, value in params.items():
            self.put(f"{name}.{key}", [float(value)])
        y = fn(**leaves, **params)
        dy = torch.ones_like(y) if seed_one else torch.randn_like(y)
        y.backward(dy)
        self.put(f"{name}.y", y)
        self.put(f"{name}.dy", dy)
        for key, leaf in leaves.items():
            if leaf.requires_grad:
                self.put(f"{name}.grad.{key}", leaf.grad)
            if key in state:
                self.put(f"{name}.after.{key}", leaf)

    def save(self, path):
        header, offset = {}, 0
        for name, array in self.tensors.items():
            size = array.size * 4
            header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + size]}
            offset += size
        metadata = {"generator": "Testing/Python/torch_reference.py", "torch": torch.__version__, "seed": str(SEED)}
        metadata.update({f"case.{case}": op for case, op in self.cases.items()})
        header = {"__metadata__": metadata, **header}
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 8)  # safetensors pads the header with spaces to 8 bytes
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for array in self.tensors.values():
                f.write(array.astype("<f4").tobytes())
        os.replace(tmp, path)  # never leave a half-written fixture under the final name


# ---- helpers: seeded shapes and values (everything flows from torch.manual_seed(SEED)) ----
def randint(lo, hi):
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,)))


def randn(*shape, scale=1.0):
    return torch.randn(*shape) * scale


def uniform(*shape, lo=-1.0, hi=1.0):
    return torch.rand(*shape) * (hi - lo) + lo


# ---- references for ops PyTorch 1.13 has no single function for ----
def attention_ref(q, k, v, heads):
    """q, k, v [n, heads*head_dim, h, w]: per head, probs = softmax(q^T k / sqrt(head_dim)) over the keys,
    out = v probs^T (channel c = head*head_dim + d, like the engine)."""
    n, c, h, w = q.shape
    d, length = c // heads, h * w
    q, k, v = (t.reshape(n, heads, d, length) for t in (q, k, v))
    probs = torch.softmax(torch.einsum("nhdi,nhdj->nhij", q, k) / math.sqrt(d), dim=-1)  # [n, heads, Lq, Lk]
    return torch.einsum("nhdj,nhij->nhdi", v, probs).reshape(n, c, h, w)


def timestep_embedding_ref(t, dim, max_period):
    """diffusers' get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0: [cos, sin].

    Evaluated in float64 and rounded once: torch's own float32 phase t*f carries an error of about t*6e-8,
    1e-4 at t ~ 1000, larger than the tolerance, so the exact value is the fair reference."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    phase = t.double()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=1).float()


def augment_ref(x, params):
    """The engine's augmentation written with torch ops, autograd giving its backward: per image, brightness b,
    contrast k around the image's mean (after brightness), translation by whole pixels with zero fill (through a
    zero-padded copy), cutout of the half-open rectangle [x0, x1) x [y0, y1) (clipped to the image)."""
    n, c, h, w = x.shape
    out = []
    for i in range(n):
        b, k, sx, sy, x0, y0, x1, y1 = params[i].tolist()
        img = x[i] + b
        mean = img.mean()
        img = (img - mean) * k + mean
        sx, sy = max(-w, min(w, int(sx))), max(-h, min(h, int(sy)))  # farther shifts leave nothing either
        padded = F.pad(img, (w, w, h, h))  # out[r, q] = img[r - sy, q - sx] = padded[r - sy + h, q - sx + w]
        shifted = padded[:, h - sy:2 * h - sy, w - sx:2 * w - sx]
        mask = torch.ones(h, w)
        clip = lambda value, size: max(0, min(size, int(value)))
        mask[clip(y0, h):clip(y1, h), clip(x0, w):clip(x1, w)] = 0
        out.append(shifted * mask)
    return torch.stack(out)


def augment_params(n, h, w):
    """Per-image [brightness, contrast, shift_x, shift_y, x0, y0, x1, y1]: the identity, shifts of both signs (one
    past the edge), cutouts inside, partly outside and empty, then random ones."""
    fixed = [[0, 1, 0, 0, 0, 0, 0, 0], [0.3, 1.7, 2, -1, 1, 1, 3, 4], [-0.5, 0.4, -3, 2, -2, 3, 2, h + 4],
             [0.2, 0.8, w + 3, 0, 0, 0, 0, 0], [0, 1.3, 0, -1, 4, 4, 2, 6]]
    rows = []
    for i in range(n):
        if i < len(fixed):
            rows.append(fixed[i])
            continue
        shifts = [randint(-w, w), randint(-h, h)]
        corners = [randint(-2, w), randint(-2, h), randint(0, w + 2), randint(0, h + 2)]
        rows.append([float(uniform(1, lo=-0.5, hi=0.5)), float(uniform(1, lo=0.5, hi=1.5))] + shifts + corners)
    return torch.tensor(rows, dtype=torch.float32)


def spectral_norm_case(fx, tag, layer, example, iterations, training):
    """torch.nn.utils.spectral_norm on a layer whose weight_orig, u and v are set to seeded values; one forward
    (training: n_power_iterations iterations update u and v in place; eval: none), then the normalized weight, u and
    v afterwards, and the gradient of sum(weight * G) with respect to weight_orig for a random G."""
    name = f"spectral_norm_{tag}"
    fx.cases[name] = "spectral_norm"
    eps = 1e-12
    layer = nn.utils.spectral_norm(layer, n_power_iterations=iterations, eps=eps)
    rows = layer.weight_orig.shape[0]
    cols = layer.weight_orig.numel() // rows
    with torch.no_grad():
        layer.weight_orig.copy_(randn(*layer.weight_orig.shape, scale=1 / math.sqrt(cols)))
        layer.weight_u.copy_(F.normalize(randn(rows), dim=0, eps=eps))
        layer.weight_v.copy_(F.normalize(randn(cols), dim=0, eps=eps))
    fx.put(f"{name}.w", layer.weight_orig)
    fx.put(f"{name}.u", layer.weight_u)
    fx.put(f"{name}.v", layer.weight_v)
    fx.put(f"{name}.iterations", [iterations if training else 0])
    fx.put(f"{name}.eps", [eps])
    layer.train(training)
    layer(example)  # the forward pre-hook computes layer.weight
    g = torch.randn_like(layer.weight)
    (layer.weight * g).sum().backward()
    fx.put(f"{name}.y", layer.weight)
    fx.put(f"{name}.dy", g)
    fx.put(f"{name}.grad.w", layer.weight_orig.grad)
    fx.put(f"{name}.after.u", layer.weight_u)
    fx.put(f"{name}.after.v", layer.weight_v)


# ---- the UNet block, from nn.Module layers so the weights carry PyTorch's state_dict names ----
class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, channels, groups, heads):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.to_q = nn.Conv2d(channels, channels, 1)
        self.to_k = nn.Conv2d(channels, channels, 1)
        self.to_v = nn.Conv2d(channels, channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        h = self.norm(x)
        return x + self.proj(attention_ref(self.to_q(h), self.to_k(h), self.to_v(h), self.heads))


class UNetBlock(nn.Module):
    def __init__(self, cin, cout, temb_dim, groups, heads):
        super().__init__()
        self.res = ResBlock(cin, cout, temb_dim, groups)
        self.attn = AttnBlock(cout, groups, heads)

    def forward(self, x, temb):
        return self.attn(self.res(x, temb))


def block_case(fx, tag, n, cin, cout, h, w, temb_dim, groups, heads):
    name = f"unet_block_{tag}"
    fx.cases[name] = "unet_block"
    block = UNetBlock(cin, cout, temb_dim, groups, heads)
    with torch.no_grad():  # norms start at gamma 1, beta 0: move them so their gradients are not trivial
        for module in block.modules():
            if isinstance(module, nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    # The key bias shifts every score of a query by the same amount, and softmax ignores that: its gradient is 0
    # in exact arithmetic and rounding noise on both sides. Noise in a sum scales with the sum of its terms'
    # magnitudes, so the fixture gives that mass (max over channels of sum |dL/dk|) as the comparison's scale.
    captured = {}

    def keep_key_grad(module, args, out):
        out.register_hook(lambda grad: captured.__setitem__("dk", grad))

    block.attn.to_k.register_forward_hook(keep_key_grad)
    x, temb = randn(n, cin, h, w).requires_grad_(), randn(n, temb_dim).requires_grad_()
    y = block(x, temb)
    dy = torch.randn_like(y)
    y.backward(dy)
    fx.put(f"{name}.scale.grad.attn.to_k.bias", captured["dk"].abs().sum(dim=(0, 2, 3)).max())
    for key, value in (("x", x), ("temb", temb), ("groups", [groups]), ("heads", [heads]), ("y", y), ("dy", dy)):
        fx.put(f"{name}.{key}", value)
    fx.put(f"{name}.grad.x", x.grad)
    fx.put(f"{name}.grad.temb", temb.grad)
    for key, value in block.state_dict().items():
        fx.put(f"{name}.{key}", value)
    for key, param in block.named_parameters():
        fx.put(f"{name}.grad.{key}", param.grad)


def build(fx):
    # ---- convolutions: k 1/3/4, stride 1/2, padding, with and without bias, odd sizes for stride-2 edges ----
    conv = lambda x, w, b=None, stride=1, pad=0: F.conv2d(x, w, b, stride=int(stride), padding=int(pad))
    for tag, k, stride, pad, bias, no_grad in (
        ("k1s1p0", 1, 1, 0, True, ()),
        ("k3s1p1", 3, 1, 1, True, ()),
        ("k3s2p1", 3, 2, 1, False, ()),
        ("k3s1p0", 3, 1, 0, True, ()),
        ("k4s2p1", 4, 2, 1, True, ()),
        ("k4s1p2", 4, 1, 2, False, ()),
        ("k4s2p1_first_layer", 4, 2, 1, True, ("x",)),  # no dx wanted: the input image
    ):
        n, cin, cout, h, w = randint(1, 3), randint(1, 6), randint(1, 7), randint(5, 11), randint(5, 11)
        inputs = {"x": randn(n, cin, h, w), "w": randn(cout, cin, k, k, scale=1 / math.sqrt(cin * k * k))}
        if bias:
            inputs["b"] = randn(cout, scale=0.5)
        fx.case("conv2d", tag, conv, inputs, {"stride": stride, "pad": pad}, no_grad=no_grad)

    convt = lambda x, w, b=None, stride=1, pad=0: F.conv_transpose2d(x, w, b, stride=int(stride), padding=int(pad))
    for tag, stride, pad, bias, size in (
        ("k4s2p1", 2, 1, True, None),
        ("k4s2p1_nobias", 2, 1, False, None),
        ("k4s1p0_from_1x1", 1, 0, True, 1),  # the DCGAN generator's first layer: latent [n,z,1,1] -> 4x4
        ("k4s1p1", 1, 1, True, None),
    ):
        n, cin, cout = randint(1, 3), randint(1, 6), randint(1, 6)
        h, w = (size, size) if size else (randint(2, 7), randint(2, 7))
        inputs = {"x": randn(n, cin, h, w), "w": randn(cin, cout, 4, 4, scale=1 / math.sqrt(cin * 4))}
        if bias:
            inputs["b"] = randn(cout, scale=0.5)
        fx.case("conv_transpose2d", tag, convt, inputs, {"stride": stride, "pad": pad})

    for tag, bias in (("bias", True), ("nobias", False)):
        n, fin, fout = randint(1, 5), randint(1, 40), randint(1, 30)
        inputs = {"x": randn(n, fin), "w": randn(fout, fin, scale=1 / math.sqrt(fin))}
        if bias:
            inputs["b"] = randn(fout, scale=0.5)
        fx.case("linear", tag, lambda x, w, b=None: F.linear(x, w, b), inputs)

    # ---- normalization ----
    gn = lambda x, gamma, beta, groups, eps: F.group_norm(x, int(groups), gamma, beta, eps)
    for tag, shape, groups in (("g4", (2, 8, 5, 7), 4), ("g3", (3, 12, 4, 4), 3), ("g1", (2, 6, 3, 5), 1),
                               ("instance", (2, 5, 4, 3), 5), ("2d", (4, 16), 4)):
        c = shape[1]
        inputs = {"x": randn(*shape, scale=2) + 0.5, "gamma": uniform(c, lo=0.5, hi=1.5), "beta": randn(c, scale=0.5)}
        fx.case("group_norm", tag, gn, inputs, {"groups": groups, "eps": 1e-5})

    def bn(x, gamma, beta, running_mean, running_var, training, momentum, eps):
        return F.batch_norm(x, running_mean, running_var, gamma, beta, bool(training), momentum, eps)

    for training in (1, 0):
        for tag, shape in (("a", (4, 3, 5, 6)), ("b", (2, 8, 3, 3))):
            c = shape[1]
            inputs = {"x": randn(*shape, scale=1.5) - 0.3, "gamma": uniform(c, lo=0.5, hi=1.5),
                      "beta": randn(c, scale=0.5), "running_mean": randn(c, scale=0.3),
                      "running_var": uniform(c, lo=0.5, hi=2.0)}
            op = "batch_norm_train" if training else "batch_norm_eval"
            fx.case(op, tag, bn, inputs, {"training": training, "momentum": 0.1, "eps": 1e-5},
                    state=("running_mean", "running_var"))

    # ---- activations ----
    activations = {
        "relu": lambda x: F.relu(x),
        "silu": lambda x: F.silu(x),
        "tanh": lambda x: torch.tanh(x),
        "sigmoid": lambda x: torch.sigmoid(x),
    }
    for op, fn in activations.items():
        for tag in ("a", "b"):
            shape = (randint(1, 3), randint(1, 5), randint(1, 7), randint(1, 7))
            fx.case(op, tag, fn, {"x": randn(*shape, scale=3)})
    for tag, slope in (("slope0.2", 0.2), ("slope0.01", 0.01)):
        shape = (randint(1, 3), randint(1, 5), randint(1, 7), randint(1, 7))
        fx.case("leaky_relu", tag, lambda x, slope: F.leaky_relu(x, slope), {"x": randn(*shape, scale=3)},
                {"slope": slope})
    fx.case("softmax", "2d", lambda x: torch.softmax(x, -1), {"x": randn(5, 9, scale=3)})
    fx.case("softmax", "4d", lambda x: torch.softmax(x, -1), {"x": randn(2, 3, 4, 6, scale=3)})

    # ---- attention over spatial positions ----
    for tag, n, heads, head_dim, h, w in (("h1", 2, 1, 8, 4, 4), ("h2", 1, 2, 4, 3, 5), ("h4", 2, 4, 3, 2, 6)):
        c = heads * head_dim
        inputs = {"q": randn(n, c, h, w), "k": randn(n, c, h, w), "v": randn(n, c, h, w)}
        fx.case("attention", tag, lambda q, k, v, heads: attention_ref(q, k, v, int(heads)), inputs,
                {"heads": heads})

    # ---- resampling and layout ----
    for tag, shape in (("a", (2, 3, 4, 5)), ("b", (1, 2, 1, 3))):
        fx.case("upsample_nearest2x", tag, lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
                {"x": randn(*shape)})
    for tag, shape in (("a", (2, 3, 4, 6)), ("b", (1, 5, 8, 2))):
        fx.case("avg_pool2x", tag, lambda x: F.avg_pool2d(x, 2), {"x": randn(*shape)})
    fx.case("concat", "4d", lambda a, b: torch.cat([a, b], 1), {"a": randn(2, 3, 4, 5), "b": randn(2, 5, 4, 5)})
    fx.case("concat", "2d", lambda a, b: torch.cat([a, b], 1), {"a": randn(3, 1), "b": randn(3, 4)})

    # ---- broadcast arithmetic: same shape, per channel, per sample, scalar, both sides, lower rank ----
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}
    pairs = {
        "same": ((2, 3, 4, 5), (2, 3, 4, 5)),
        "channel": ((2, 3, 4, 5), (1, 3, 1, 1)),
        "sample": ((2, 3, 4, 5), (2, 3, 1, 1)),
        "scalar": ((2, 3, 4, 5), (1,)),
        "scalar_left": ((1,), (3, 2, 3, 2)),
        "both": ((2, 1, 4, 1), (1, 3, 1, 5)),
        "rank2_rank1": ((4, 6), (6,)),
    }
    for op, fn in binary.items():
        for tag, (sa, sb) in pairs.items():
            fx.case(op, tag, lambda a, b, fn=fn: fn(a, b), {"a": randn(*sa), "b": randn(*sb)})
    for tag, alpha in (("neg", -1.7), ("small", 0.125)):
        fx.case("scale", tag, lambda x, alpha: x * alpha, {"x": randn(2, 3, randint(1, 5), randint(1, 5))},
                {"alpha": alpha})

    # ---- embeddings ----
    fx.case("timestep_embedding", "t10", lambda t, dim, max_period: timestep_embedding_ref(t, int(dim), max_period),
            {"t": uniform(5, lo=0, hi=10)}, {"dim": 16, "max_period": 10000})
    fx.case("timestep_embedding", "t1000", lambda t, dim, max_period: timestep_embedding_ref(t, int(dim), max_period),
            {"t": uniform(4, lo=0, hi=1000)}, {"dim": 32, "max_period": 10000})
    for tag, labels, rows, dim in (("repeats", [2, 0, 2, 3, 2], 4, 6), ("one_row", [1, 1, 1], 3, 5)):
        fx.case("embedding", tag, lambda labels, table: F.embedding(labels, table),
                {"labels": torch.tensor(labels), "table": randn(rows, dim)})

    # ---- reductions and losses; seed_one cases run through mg_backward (scalar loss, gradient 1) ----
    for tag, shape, one in (("a", (2, 3, 4, 5), False), ("b", (7,), True)):
        fx.case("sum", tag, lambda x: x.sum(), {"x": randn(*shape)}, seed_one=one)
        fx.case("mean", tag, lambda x: x.mean(), {"x": randn(*shape)}, seed_one=one)
    for tag, shape, one in (("a", (2, 3, 4, 4), False), ("b", (5, 1), True)):
        fx.case("mse_loss", tag, lambda pred, target: F.mse_loss(pred, target),
                {"pred": randn(*shape), "target": randn(*shape)}, seed_one=one)
        fx.case("bce_logits_loss", tag, lambda logits, target: F.binary_cross_entropy_with_logits(logits, target),
                {"logits": randn(*shape, scale=3), "target": torch.rand(*shape)}, seed_one=one)
    for tag, sign, one in (("real", 1.0, False), ("fake", -1.0, True)):
        fx.case("hinge_loss", tag, lambda scores, sign: torch.relu(1 - sign * scores).mean(),
                {"scores": randn(6, 1, scale=2)}, {"sign": sign}, seed_one=one)
    for tag, rows, classes, one in (("a", 6, 4, False), ("b", 3, 10, True)):
        fx.case("cross_entropy_loss", tag, lambda logits, labels: F.cross_entropy(logits, labels),
                {"logits": randn(rows, classes, scale=2), "labels": torch.randint(0, classes, (rows,))},
                seed_one=one)

    # ---- the UNet residual block followed by a spatial attention block ----
    block_case(fx, "skip_conv", n=2, cin=8, cout=16, h=6, w=5, temb_dim=12, groups=4, heads=2)
    block_case(fx, "identity_skip", n=1, cin=16, cout=16, h=4, w=4, temb_dim=8, groups=8, heads=4)

    # ---- GAN pieces: spectral norm of a conv and a linear weight (training, 1 and 3 power iterations; eval),
    # augmentation, per-sample sums ----
    for tag, iterations, training in (("1", 1, True), ("3", 3, True), ("eval", 1, False)):
        spectral_norm_case(fx, f"conv_{tag}", nn.Conv2d(3, 4, 4), randn(1, 3, 6, 6), iterations, training)
        spectral_norm_case(fx, f"linear_{tag}", nn.Linear(7, 5), randn(2, 7), iterations, training)
    for tag, shape in (("a", (7, 2, 5, 6)), ("b", (9, 1, 8, 8))):
        n, c, h, w = shape
        fx.case("augment", tag, augment_ref, {"x": randn(*shape), "params": augment_params(n, h, w)},
                no_grad=("params",))
    for tag, shape in (("4d", (3, 2, 4, 5)), ("2d", (4, 6))):
        fx.case("sum_rows", tag, lambda x: x.reshape(x.shape[0], -1).sum(1, keepdim=True), {"x": randn(*shape)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="safetensors file to write")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # the same float32 results on every machine size
    fx = Fixture()
    build(fx)
    fx.save(args.out)
    print(f"torch_reference.py: {len(fx.cases)} cases, {len(fx.tensors)} tensors -> {args.out}, "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
