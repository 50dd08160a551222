#!/usr/bin/env python3
"""unet_reference.py: the UNet noise predictor of Logic/Engine/unet.c as a PyTorch nn.Module (MONAI's
DiffusionModelUNet / Ho et al.), with the same state_dict names as the engine's parameters, so that either side
loads the other's weights by name.

  unet_reference.py fixture --config JSON --out FILE.safetensors [--config JSON --out FILE ...] [--seed N]
      Builds the model for config (the JSON of mg_unet_config_to_json), sets every parameter to random values
      (the zero-initialized layers included), runs a random batch forward and backward in float32 and writes one
      safetensors file (tensor names below), for Testing/Engine/test_unet_parity.c. Repeated pairs write one
      fixture each, sparing PyTorch's start-up time.
  unet_reference.py bench --preset unet-s|unet-monai --size 64 --batch 16 --channels 1 [--threads N] [--steps N]
          [--device cpu|cuda] [--tf32] [--sample-images N] [--ddim-steps S]
      Times, in eager mode on --device, what `medgen bench ddpm` times in MedGen: one training step as
      Logic/Engine/ddpm.c takes it (a batch drawn with replacement from 64 images, a timestep each, x_t, MSE on the
      noise, backward, gradient-norm clipping to 1, AdamW, the EMA update), one sampling step (a no-grad forward
      of the batch), and with --sample-images N a whole DDIM run of N images in one batch (eta 0, x0 clipped,
      the engine's "trailing" timesteps, the images downloaded at the end). Float32; on CUDA TF32 is off for
      matmuls and cuDNN unless --tf32 turns both on; cuDNN autotuning (benchmark mode) on. CUDA timings end with
      torch.cuda.synchronize(). Prints one JSON line {"train_step_s", "sample_step_s", "ddim_s" (with
      --sample-images), "params", ...}: medians of --steps timed steps (default 8) after --warmup steps (default
      2); DDIM: the median of 3 runs after a two-step warm-up run. `medgen bench ddpm --vs-torch` runs this.

Fixture tensors: model.<param> the weights; x, t (timesteps), labels (class indices stored as floats, present
for conditional models), y (the output), dy (the upstream gradient), grad.x and grad.<param> autograd's gradients;
y_no_label (conditional models: the output for labels NULL, i.e. every image "no class"); scale.grad.<param> for
each attention key bias, whose gradient is 0 in exact arithmetic (softmax ignores a shift shared by every key):
the magnitude of the cancelling terms, to scale the comparison's absolute tolerance by. Metadata: "config" (the
JSON), "training" ("false": dropout off), "params.unet-s" and "params.unet-monai" (the presets' parameter
counts at 64x64, 1 channel, unconditional), "torch" (its version).

Usage: /usr/bin/python3 (Debian's python3-torch).
"""
import argparse
import json
import math
import sys

from reference_util import median_time, save_safetensors

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as error:
    sys.exit(
        f"unet_reference.py: cannot import PyTorch/numpy with {sys.executable} ({error}).\n"
        "The UNet parity test needs Debian's python3-torch: run the README's test command, which installs it."
    )

GROUP_NORM_EPS = 1e-6  # MONAI's
MAX_PERIOD = 10000.0

FIELDS = ("image_size", "in_channels", "base_channels", "levels", "channel_mult", "res_blocks", "attention",
          "mid_attention", "head_channels", "groups", "temb_channels", "dropout", "num_classes")

# The presets of mg_unet_preset (medgen.h), written out again here so that the C test can compare counts.
PRESETS = {
    "unet-s": {"image_size": 64, "in_channels": 1, "base_channels": 64, "levels": 3, "channel_mult": [1, 2, 2],
               "res_blocks": 1, "attention": [False, True, True], "mid_attention": True, "head_channels": 64,
               "groups": 32, "temb_channels": 256, "dropout": 0.0, "num_classes": 0},
    "unet-monai": {"image_size": 64, "in_channels": 1, "base_channels": 128, "levels": 3, "channel_mult": [1, 2, 2],
                   "res_blocks": 1, "attention": [False, True, True], "mid_attention": True, "head_channels": 256,
                   "groups": 32, "temb_channels": 512, "dropout": 0.0, "num_classes": 0},
}


def parse_config(text):
    config = json.loads(text)
    missing = [f for f in FIELDS if f not in config]
    if missing or set(config) - set(FIELDS):
        sys.exit(f"unet_reference.py: config needs exactly the fields {FIELDS}, got {sorted(config)}")
    return config


def timestep_embedding(t, dim):
    """[cos | sin] halves, frequencies exp(-ln(max_period) j / half) (MONAI, diffusers with flip_sin_to_cos).
    Evaluated in float64 and rounded once, like the engine's kernel: torch's float32 phase t*f is off by ~t*6e-8."""
    half = dim // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float64, device=t.device) / half)
    phase = t.double()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=1).float()


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=GROUP_NORM_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=GROUP_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    """Self-attention over the spatial positions, heads of head_channels; channel c = head * head_dim + d."""

    def __init__(self, channels, groups, head_channels):
        super().__init__()
        self.heads = channels // head_channels
        self.norm = nn.GroupNorm(groups, channels, eps=GROUP_NORM_EPS)
        self.to_q = nn.Conv2d(channels, channels, 1)
        self.to_k = nn.Conv2d(channels, channels, 1)
        self.to_v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        n, c, hgt, wid = x.shape
        d, length = c // self.heads, hgt * wid
        h = self.norm(x)
        q, k, v = (conv(h).reshape(n * self.heads, d, length) for conv in (self.to_q, self.to_k, self.to_v))
        probs = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(d), dim=-1)  # [n*heads, Lq, Lk]
        a = torch.bmm(v, probs.transpose(1, 2)).reshape(n, c, hgt, wid)
        return x + self.proj_out(a)


class Level(nn.Module):
    """res_count x (ResBlock [+ Attention]), then a resampling conv (down: stride 2; up: after nearest 2x)."""

    def __init__(self, res_in, cout, config, attention, resample):
        super().__init__()
        g, temb, drop = config["groups"], config["temb_channels"], config["dropout"]
        self.res = nn.ModuleList(ResBlock(cin, cout, temb, g, drop) for cin in res_in)
        if attention:
            self.attn = nn.ModuleList(Attention(cout, g, config["head_channels"]) for _ in res_in)
        else:
            self.attn = None
        self.resample_kind = resample
        if resample == "down":
            self.downsample = nn.Conv2d(cout, cout, 3, stride=2, padding=1)
        elif resample == "up":
            self.upsample = nn.Conv2d(cout, cout, 3, padding=1)

    def unit(self, j, h, temb):
        h = self.res[j](h, temb)
        return self.attn[j](h) if self.attn is not None else h


class Middle(nn.Module):
    def __init__(self, ch, config):
        super().__init__()
        g = config["groups"]
        self.res = nn.ModuleList(ResBlock(ch, ch, config["temb_channels"], g, config["dropout"]) for _ in range(2))
        self.attn = Attention(ch, g, config["head_channels"]) if config["mid_attention"] else None

    def forward(self, h, temb):
        h = self.res[0](h, temb)
        if self.attn is not None:
            h = self.attn(h)
        return self.res[1](h, temb)


class UNet(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        levels, base, temb = config["levels"], config["base_channels"], config["temb_channels"]
        ch = [base * m for m in config["channel_mult"][:levels]]
        self.time_embed = nn.Sequential(nn.Linear(base, temb), nn.SiLU(), nn.Linear(temb, temb))
        if config["num_classes"]:
            self.class_embed = nn.Embedding(config["num_classes"] + 1, temb)  # the last row: "no class"
        self.conv_in = nn.Conv2d(config["in_channels"], ch[0], 3, padding=1)
        # channels of every skip pushed on the way down, to size the up path's concatenations
        skips, cin, down = [ch[0]], ch[0], []
        for i in range(levels):
            res_in = [cin] + [ch[i]] * (config["res_blocks"] - 1)
            down.append(Level(res_in, ch[i], config, config["attention"][i], "down" if i < levels - 1 else None))
            skips += [ch[i]] * (config["res_blocks"] + (1 if i < levels - 1 else 0))
            cin = ch[i]
        self.down = nn.ModuleList(down)
        self.mid = Middle(cin, config)
        up = [None] * levels
        for i in reversed(range(levels)):
            res_in = []
            for _ in range(config["res_blocks"] + 1):
                res_in.append(cin + skips.pop())
                cin = ch[i]
            up[i] = Level(res_in, ch[i], config, config["attention"][i], "up" if i > 0 else None)
        self.up = nn.ModuleList(up)
        self.out = nn.ModuleDict({"norm": nn.GroupNorm(config["groups"], ch[0], eps=GROUP_NORM_EPS),
                                  "conv": nn.Conv2d(ch[0], config["in_channels"], 3, padding=1)})
        self.zero_init()

    def zero_init(self):
        """MONAI's zero_module: every residual branch, attention output and the output conv start at 0."""
        with torch.no_grad():
            zeroed = [self.out["conv"]]
            for module in self.modules():
                if isinstance(module, ResBlock):
                    zeroed.append(module.conv2)
                elif isinstance(module, Attention):
                    zeroed.append(module.proj_out)
            for conv in zeroed:
                conv.weight.zero_()
                conv.bias.zero_()

    def forward(self, x, t, labels=None):
        config = self.config
        temb = self.time_embed(timestep_embedding(t, config["base_channels"]))
        if config["num_classes"]:
            if labels is None:
                labels = torch.full((x.shape[0],), config["num_classes"], dtype=torch.long, device=x.device)
            temb = temb + self.class_embed(labels)
        h = self.conv_in(x)
        skips = [h]
        for level in self.down:
            for j in range(len(level.res)):
                h = level.unit(j, h, temb)
                skips.append(h)
            if level.resample_kind == "down":
                h = level.downsample(h)
                skips.append(h)
        h = self.mid(h, temb)
        for level in reversed(self.up):
            for j in range(len(level.res)):
                h = level.unit(j, torch.cat([h, skips.pop()], dim=1), temb)
            if level.resample_kind == "up":
                h = level.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out["conv"](F.silu(self.out["norm"](h)))


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


# ---- fixture ----
def randomize(model):
    """Every parameter random and non-zero, at PyTorch's default scale (U(+-1/sqrt(fan_in))) so activations stay
    O(1); norms away from the identity so their gradients are not trivial."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                bound = 1 / math.sqrt(module.weight[0].numel())
                module.weight.uniform_(-bound, bound)
                module.bias.uniform_(-bound, bound)
            elif isinstance(module, nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            elif isinstance(module, nn.Embedding):
                module.weight.normal_()


def fixture(config_json, out, seed, batch, preset_counts):
    config = parse_config(config_json)
    torch.manual_seed(seed)
    model = UNet(config)
    randomize(model)
    model.eval()  # dropout off: the C side runs with training = false
    n, s, c = batch, config["image_size"], config["in_channels"]
    x = torch.randn(n, c, s, s).requires_grad_()
    t = torch.rand(n) * 999
    labels = torch.randint(0, config["num_classes"] + 1, (n,)) if config["num_classes"] else None

    # softmax ignores a shift shared by all keys: the key bias gradient is rounding noise whose size follows the
    # magnitude of the summed terms (max over channels of sum |dL/dk|), recorded as its comparison scale
    key_grads = {}

    def keep_key_grad(name):
        def hook(module, inputs, out):
            out.register_hook(lambda grad: key_grads.__setitem__(name, grad))  # returns None: output unchanged
        return hook

    hooks = [module.to_k.register_forward_hook(keep_key_grad(name))
             for name, module in model.named_modules() if isinstance(module, Attention)]
    y = model(x, t, labels)
    dy = torch.randn_like(y)
    y.backward(dy)
    for hook in hooks:
        hook.remove()

    tensors = {}
    put = lambda key, value: tensors.__setitem__(key, np.array(value.detach().numpy(), dtype=np.float32))
    for key, value in model.state_dict().items():
        put(f"model.{key}", value)
    put("x", x)
    put("t", t)
    if labels is not None:
        put("labels", labels.float())
        with torch.no_grad():
            put("y_no_label", model(x, t, None))
    put("y", y)
    put("dy", dy)
    put("grad.x", x.grad)
    for key, param in model.named_parameters():
        put(f"grad.{key}", param.grad)
    for name, g in key_grads.items():
        put(f"scale.grad.{name}.to_k.bias", g.abs().sum(dim=(0, 2, 3)).max().reshape(1))

    metadata = {"generator": "Testing/Python/unet_reference.py", "torch": torch.__version__,
                "config": json.dumps(config, separators=(",", ":")), "training": "false"}
    metadata.update({f"params.{preset}": str(count) for preset, count in preset_counts.items()})
    save_safetensors(out, tensors, metadata)
    print(f"unet_reference.py: {parameter_count(model)} parameters, {len(tensors)} tensors -> {out}")


# ---- bench ----
DATA_IMAGES = 64  # the dataset `medgen bench ddpm` trains on
DDIM_REPEATS = 3
T, BETA_START, BETA_END = 1000, 1e-4, 0.02  # mg_ddpm_default_config: the linear schedule
EMA_DECAY, ADAM_BETAS, ADAM_EPS, CLIP_NORM, LR = 0.9999, (0.9, 0.999), 1e-8, 1.0, 1e-4  # mg_ddpm_default_train_options


def alpha_bars():
    """The linear schedule as diffusion.c builds it (beta_t symmetric from both ends), in float64."""
    step = (BETA_END - BETA_START) / (T - 1)
    betas = [BETA_START + step * t if t < T // 2 else BETA_END - step * (T - 1 - t) for t in range(T)]
    out, ab = [], 1.0
    for beta in betas:
        ab *= 1.0 - beta
        out.append(ab)
    return out


def ddim_timesteps(n):
    """mg_diffusion_timesteps: T (n - k) / n rounded half to even, minus 1 ("trailing" spacing)."""
    ts = []
    for k in range(n):
        q, r = divmod(T * (n - k), n)
        if 2 * r > n or (2 * r == n and q & 1):
            q += 1
        ts.append(q - 1)
    return ts


def bench(args):
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit(f"unet_reference.py: --device cuda, but this PyTorch ({torch.__version__}) sees no CUDA device")
        # the same precision as MedGen: full float32 unless --tf32, which MedGen applies to GEMMs and convolutions
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True  # PyTorch's fastest eager setting for fixed shapes
        sync = torch.cuda.synchronize
    else:
        sync = lambda: None
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    config = dict(PRESETS[args.preset], image_size=args.size, in_channels=args.channels)
    model = UNet(config).to(device)
    params = [p for p in model.parameters()]
    ema = [p.detach().clone() for p in params]
    optimizer = torch.optim.AdamW(params, lr=LR, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=0.0)
    n, s, c = args.batch, args.size, args.channels
    ab = alpha_bars()
    sqrt_ab = torch.tensor([math.sqrt(a) for a in ab])
    sqrt_1m_ab = torch.tensor([math.sqrt(1 - a) for a in ab])
    data = torch.rand(DATA_IMAGES, c, s, s) * 2 - 1  # in host memory, as MedGen's dataset
    x, t = torch.randn(n, c, s, s, device=device), torch.randint(0, T, (n,), device=device).float()
    steps_done = [0]

    def train_step():
        # as ddpm.c: the batch drawn and gathered on the host and uploaded, the noise drawn on the device
        pick, ts = torch.randint(0, DATA_IMAGES, (n,)), torch.randint(0, T, (n,))
        x0, a, b = (v.to(device) for v in (data[pick], sqrt_ab[ts].view(n, 1, 1, 1), sqrt_1m_ab[ts].view(n, 1, 1, 1)))
        eps = torch.randn(n, c, s, s, device=device)
        loss = F.mse_loss(model(a * x0 + b * eps, ts.float().to(device)), eps)
        loss.item()  # MedGen reads the loss before its backward (its NaN check): the same synchronization here
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        optimizer.step()
        # diffusers' EMA warm-up, as mg_ema_decay: decay = min(max, 1 - (1 + step)^(-2/3))
        decay = min(EMA_DECAY, 1 - (1 + steps_done[0]) ** (-2 / 3))
        steps_done[0] += 1
        with torch.no_grad():
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, [p.detach() for p in params], alpha=1 - decay)
        sync()

    def sample_step():
        with torch.no_grad():
            model(x, t)
        sync()

    def ddim_sample(steps):
        """diffusion.c's DDIM at eta 0: x0 and eps from the prediction, x0 clipped to [-1, 1] (eps recomputed from
        it), x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps; the last step goes to abar = 1."""
        m, ts = args.sample_images, ddim_timesteps(steps)
        with torch.no_grad():
            xs = torch.randn(m, c, s, s, device=device)
            for i, step_t in enumerate(ts):
                a, b = math.sqrt(ab[step_t]), math.sqrt(1 - ab[step_t])
                ab_prev = ab[ts[i + 1]] if i + 1 < len(ts) else 1.0
                pred = model(xs, torch.full((m,), float(step_t), device=device))
                x0 = ((xs - b * pred) / a).clamp_(-1, 1)
                xs = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * ((xs - a * x0) / b)
            xs.clamp_(-1, 1).cpu()  # MedGen returns the images in host memory: this also synchronizes

    model.train()
    result = {"train_step_s": median_time(train_step, args.warmup, args.steps)}
    model.eval()
    result["sample_step_s"] = median_time(sample_step, args.warmup, args.steps)
    if args.sample_images:
        ddim_sample(min(2, args.ddim_steps))  # the warm-up meets the batch's shapes: two steps do, as in MedGen
        result["ddim_s"] = median_time(lambda: ddim_sample(args.ddim_steps), 0, DDIM_REPEATS)
    result.update({"params": parameter_count(model), "device": str(device), "tf32": bool(args.tf32),
                   "threads": torch.get_num_threads(), "torch": torch.__version__})
    if device.type == "cuda":
        result.update({"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                       "cudnn": torch.backends.cudnn.version(),
                       "peak_gpu_mb": round(torch.cuda.max_memory_allocated(device) / 2**20)})
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    fx = sub.add_parser("fixture", help="write a parity fixture")
    fx.add_argument("--config", required=True, action="append",
                    help="the UNet configuration as JSON (mg_unet_config_to_json)")
    fx.add_argument("--out", required=True, action="append", help="safetensors file to write (one per --config)")
    fx.add_argument("--seed", type=int, default=20240611)
    fx.add_argument("--batch", type=int, default=2)
    bn = sub.add_parser("bench", help="time PyTorch training and sampling steps")
    bn.add_argument("--preset", required=True, choices=sorted(PRESETS))
    bn.add_argument("--size", type=int, default=64)
    bn.add_argument("--batch", type=int, default=16)
    bn.add_argument("--channels", type=int, default=1)
    bn.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    bn.add_argument("--warmup", type=int, default=2)
    bn.add_argument("--steps", type=int, default=8, help="timed steps; the medians are reported")
    bn.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    bn.add_argument("--tf32", action="store_true", help="CUDA: TF32 for matmuls and cuDNN (default: full float32)")
    bn.add_argument("--sample-images", type=int, default=0, help="also time a DDIM run of this many images (0: no)")
    bn.add_argument("--ddim-steps", type=int, default=50)
    args = parser.parse_args()
    if args.mode == "bench":
        bench(args)
        return
    if len(args.config) != len(args.out):
        parser.error("fixture takes one --out per --config")
    torch.set_num_threads(1)  # the same float32 results on every machine size
    preset_counts = {preset: parameter_count(UNet(config)) for preset, config in PRESETS.items()}
    for config_json, out in zip(args.config, args.out):
        fixture(config_json, out, args.seed, args.batch, preset_counts)


if __name__ == "__main__":
    main()
