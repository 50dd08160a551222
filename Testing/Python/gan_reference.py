#!/usr/bin/env python3
"""gan_reference.py: the GAN's generator and discriminator of Logic/Engine/gan_model.c (mg_gan_model.h) as
PyTorch nn.Modules with the same state_dict names as the engine's parameters, so that either side loads the
other's weights by name (num_batches_tracked aside: the engine keeps no such counter).

  gan_reference.py fixture --config JSON --out FILE.safetensors [--config JSON --out FILE ...] [--seed N]
      Builds both networks for config (the JSON of mg_gan_config_to_json) with random weights, runs each forward
      in training mode on a random batch and backward with a random upstream gradient in float32, then forward
      in evaluation mode, and writes one safetensors file (tensor names below) for Testing/Engine/
      test_gan_parity.c. Repeated pairs write one fixture each, sparing PyTorch's start-up time.
  gan_reference.py bench --preset dcgan-64 --batch 16 [--threads N] [--steps N] [--warmup N]
      Times one GAN training step as Logic/Engine/gan.c takes it (hinge loss, no augmentation: a discriminator
      step on real and fake images in one batch, a generator step, the EMA of the generator) and the sampling of
      16 images, on the CPU; prints one JSON line {"train_step_s", "sample_s", "g_params", "d_params", ...}:
      medians of --steps timed steps (default 8) after --warmup steps (default 2). `medgen bench gan --vs-torch`
      runs this.

Fixture tensors: generator.<name> and discriminator.<name> the weights and buffers before any forward; z, x (the
inputs of the generator and the discriminator), labels (class indices stored as floats, conditional models only);
g.y, d.y the training-mode outputs, g.dy, d.dy the upstream gradients; grad.z, grad.x, grad.generator.<param>,
grad.discriminator.<param> autograd's gradients; after.generator.<buffer> the running statistics after the
training forward, after.discriminator.<buffer> the power iteration's u and v after it; g.y_eval (running
statistics) and d.y_eval (no power iteration) the evaluation-mode outputs after the training forward. Metadata:
"config" (the JSON), "params.generator.dcgan-64" and "params.discriminator.dcgan-64" (the preset's parameter
counts), "torch" (its version).

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
        f"gan_reference.py: cannot import PyTorch/numpy with {sys.executable} ({error}).\n"
        "The GAN parity test needs Debian's python3-torch: run the README's test command, which installs it."
    )

# mg_gan_model.h's constants
BN_MOMENTUM = 0.1
BN_EPS = 1e-5
SN_EPS = 1e-12
LEAKY_SLOPE = 0.2

FIELDS = ("image_size", "channels", "latent_dim", "width", "num_classes")

# mg_gan_preset's presets (medgen.h), written out again here so that the C test can compare counts.
PRESETS = {"dcgan-64": {"image_size": 64, "channels": 1, "latent_dim": 128, "width": 64, "num_classes": 0}}


def parse_config(text):
    config = json.loads(text)
    if set(config) != set(FIELDS):
        sys.exit(f"gan_reference.py: config needs exactly the fields {FIELDS}, got {sorted(config)}")
    return config


def blocks(config):
    """L = log2(image_size) - 2: the blocks between 4x4 and the image size."""
    return int(math.log2(config["image_size"])) - 2


class ConditionalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm without affine parameters of its own, then a per-class gain and shift."""

    def __init__(self, channels, classes):
        super().__init__(channels, eps=BN_EPS, momentum=BN_MOMENTUM, affine=False)
        self.gain = nn.Embedding(classes, channels)
        self.shift = nn.Embedding(classes, channels)

    def forward(self, x, labels):
        return super().forward(x) * self.gain(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class GeneratorBlock(nn.Module):
    def __init__(self, cin, cout, classes, first):
        super().__init__()
        stride, pad = (1, 0) if first else (2, 1)
        self.conv = nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False)
        if classes:
            self.norm = ConditionalBatchNorm2d(cout, classes)
        else:
            self.norm = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, h, labels):
        h = self.conv(h)
        h = self.norm(h, labels) if isinstance(self.norm, ConditionalBatchNorm2d) else self.norm(h)
        return F.relu(h)


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        L, w, classes = blocks(config), config["width"], config["num_classes"]
        ch = [w * min(8, 2 ** (L - 1 - i)) for i in range(L)]
        cin = [config["latent_dim"]] + ch[:-1]
        self.blocks = nn.ModuleList(GeneratorBlock(cin[i], ch[i], classes, i == 0) for i in range(L))
        self.output = nn.ConvTranspose2d(ch[-1], config["channels"], 4, 2, 1)
        with torch.no_grad():  # DCGAN's initialization (mg_gan_model.h)
            for module in self.modules():
                if isinstance(module, nn.ConvTranspose2d):
                    module.weight.normal_(0, 0.02)
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, ConditionalBatchNorm2d):
                    module.gain.weight.normal_(1, 0.02)
                    module.shift.weight.zero_()
                elif isinstance(module, nn.BatchNorm2d):
                    module.weight.normal_(1, 0.02)
                    module.bias.zero_()

    def forward(self, z, labels=None):
        h = z[:, :, None, None]
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.output(h))


class DiscriminatorBlock(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv = nn.utils.spectral_norm(conv, eps=SN_EPS)

    def forward(self, h):
        return F.leaky_relu(self.conv(h), LEAKY_SLOPE)


class Discriminator(nn.Module):
    def __init__(self, config):
        super().__init__()
        L, w, classes = blocks(config), config["width"], config["num_classes"]
        ch = [w * min(8, 2 ** i) for i in range(L)]
        cin = [config["channels"]] + ch[:-1]
        convs = [nn.Conv2d(cin[i], ch[i], 4, 2, 1) for i in range(L)] + [nn.Conv2d(ch[-1], 1, 4, 1, 0)]
        with torch.no_grad():  # DCGAN's N(0, 0.02), before spectral_norm draws u and v from it
            for conv in convs:
                conv.weight.normal_(0, 0.02)
                conv.bias.zero_()
        self.blocks = nn.ModuleList(DiscriminatorBlock(conv) for conv in convs[:-1])
        self.output = nn.utils.spectral_norm(convs[-1], eps=SN_EPS)
        if classes:
            self.embed = nn.Embedding(classes, ch[-1])
            with torch.no_grad():
                self.embed.weight.normal_(0, 0.02)
        else:
            self.embed = None

    def forward(self, x, labels=None):
        h = x
        for block in self.blocks:
            h = block(h)
        score = self.output(h).reshape(-1, 1)
        if self.embed is not None:  # projection discriminator (Miyato and Koyama)
            score = score + (h * self.embed(labels)[:, :, None, None]).sum(dim=(1, 2, 3)).reshape(-1, 1)
        return score


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def state(model):
    """The state_dict the engine shares: everything but BatchNorm's num_batches_tracked."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


# ---- fixture ----
def randomize(g, d):
    """Weights that exercise every path at O(1) activations: gains around 1, non-zero shifts and biases, running
    statistics away from 0 and 1, convolution weights at a scale that keeps tanh out of saturation. The
    discriminator's weights are spectrally normalized, so only their direction matters; u and v keep torch's."""
    with torch.no_grad():
        for module in g.modules():
            if isinstance(module, nn.ConvTranspose2d):
                module.weight.normal_(0, 1 / math.sqrt(4 * module.weight.shape[0]))
                if module.bias is not None:
                    module.bias.uniform_(-0.2, 0.2)
            elif isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                if isinstance(module, ConditionalBatchNorm2d):
                    module.gain.weight.uniform_(0.5, 1.5)
                    module.shift.weight.uniform_(-0.5, 0.5)
                else:
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.5, 0.5)
        for name, param in d.named_parameters():
            if name.endswith("weight_orig"):
                param.normal_(0, 1 / math.sqrt(param[0].numel()))
            elif name.endswith("bias"):
                param.uniform_(-0.2, 0.2)
            elif name == "embed.weight":
                param.normal_(0, 0.5)


def fixture(config_json, out, seed, batch, preset_counts):
    config = parse_config(config_json)
    torch.manual_seed(seed)
    g, d = Generator(config), Discriminator(config)
    randomize(g, d)
    tensors = {}
    put = lambda key, value: tensors.__setitem__(key, np.array(value.detach().numpy(), dtype=np.float32))
    for prefix, model in (("generator", g), ("discriminator", d)):
        for key, value in state(model).items():
            put(f"{prefix}.{key}", value)

    n, s, classes = batch, config["image_size"], config["num_classes"]
    z = torch.randn(n, config["latent_dim"]).requires_grad_()
    x = torch.empty(n, config["channels"], s, s).uniform_(-1, 1).requires_grad_()
    labels = torch.randperm(n) % classes if classes else None  # every class present when n >= classes
    put("z", z)
    put("x", x)
    if labels is not None:
        put("labels", labels.float())

    for prefix, tag, model, inp in (("generator", "g", g, z), ("discriminator", "d", d, x)):
        model.train()
        y = model(inp, labels)
        dy = torch.randn_like(y)
        y.backward(dy)
        put(f"{tag}.y", y)
        put(f"{tag}.dy", dy)
        put(f"grad.{'z' if tag == 'g' else 'x'}", inp.grad)
        for key, param in model.named_parameters():
            put(f"grad.{prefix}.{key}", param.grad)
        params = dict(model.named_parameters())
        for key, value in state(model).items():
            if key not in params:
                put(f"after.{prefix}.{key}", value)
        model.eval()
        with torch.no_grad():
            put(f"{tag}.y_eval", model(inp, labels))

    metadata = {"generator": "Testing/Python/gan_reference.py", "torch": torch.__version__,
                "config": json.dumps(config, separators=(",", ":"))}
    metadata.update(preset_counts)
    save_safetensors(out, tensors, metadata)
    print(f"gan_reference.py: {parameter_count(g)} + {parameter_count(d)} parameters, {len(tensors)} tensors "
          f"-> {out}")


# ---- bench ----
def bench(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    config = PRESETS[args.preset]
    g, d = Generator(config), Discriminator(config)
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_params = list(g.parameters())
    ema = [p.detach().clone() for p in g_params]
    b, s, latent = args.batch, config["image_size"], config["latent_dim"]
    real = torch.empty(b, config["channels"], s, s).uniform_(-1, 1)

    def train_step():
        g.train()
        d.train()
        # discriminator: real and fake in one batch, hinge loss
        with torch.no_grad():
            fake = g(torch.randn(b, latent))
        scores = d(torch.cat([real, fake]))
        loss = F.relu(1 - scores[:b]).mean() + F.relu(1 + scores[b:]).mean()
        d_opt.zero_grad(set_to_none=True)
        loss.backward()
        d_opt.step()
        # generator: through the frozen discriminator
        d.requires_grad_(False)
        loss = -d(g(torch.randn(b, latent))).mean()
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        d.requires_grad_(True)
        with torch.no_grad():  # EMA of the generator, decay 0.999
            torch._foreach_mul_(ema, 0.999)
            torch._foreach_add_(ema, g_params, alpha=0.001)

    def sample():
        g.eval()
        with torch.no_grad():
            g(torch.randn(16, latent))

    train_s = median_time(train_step, args.warmup, args.steps)
    sample_s = median_time(sample, args.warmup, args.steps)
    print(json.dumps({"train_step_s": train_s, "sample_s": sample_s, "g_params": parameter_count(g),
                      "d_params": parameter_count(d), "batch": b, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    fx = sub.add_parser("fixture", help="write a parity fixture")
    fx.add_argument("--config", required=True, action="append",
                    help="the GAN configuration as JSON (mg_gan_config_to_json)")
    fx.add_argument("--out", required=True, action="append", help="safetensors file to write (one per --config)")
    fx.add_argument("--seed", type=int, default=20240611)
    fx.add_argument("--batch", type=int, default=4)
    bn = sub.add_parser("bench", help="time a PyTorch GAN training step and sampling")
    bn.add_argument("--preset", required=True, choices=sorted(PRESETS))
    bn.add_argument("--batch", type=int, default=16)
    bn.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    bn.add_argument("--warmup", type=int, default=2)
    bn.add_argument("--steps", type=int, default=8, help="timed steps; the medians are reported")
    args = parser.parse_args()
    if args.mode == "bench":
        bench(args)
        return
    if len(args.config) != len(args.out):
        parser.error("fixture takes one --out per --config")
    torch.set_num_threads(1)  # the same float32 results on every machine size
    preset_counts = {}
    for preset, config in PRESETS.items():
        preset_counts[f"params.generator.{preset}"] = str(parameter_count(Generator(config)))
        preset_counts[f"params.discriminator.{preset}"] = str(parameter_count(Discriminator(config)))
    for config_json, out in zip(args.config, args.out):
        fixture(config_json, out, args.seed, args.batch, preset_counts)


if __name__ == "__main__":
    main()
