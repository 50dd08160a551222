#!/usr/bin/env python3
"""classifier_reference.py: the image classifier of Logic/Engine/classifier.c as a PyTorch nn.Module with the same
state_dict names as the engine's parameters ("model." stripped; num_batches_tracked aside: the engine keeps no such
counter), so that it loads a MedGen classifier checkpoint by name.

  classifier_reference.py check MODEL.safetensors OUTPUTS.safetensors
      Builds the network MODEL's model.config describes, loads MODEL's weights and running statistics, runs it in
      evaluation mode (float32) on OUTPUTS' "images", and compares its global-average-pooled features and its logits
      with OUTPUTS' "features" and "logits" (what mg_classifier_features computed, and the final linear layer on
      them): |torch - medgen| <= 1e-4 * (1 + |torch|) everywhere. Exits 0 when they match, 1 otherwise.

test_classifier (Testing/Engine) writes both files. Reads them with read_safetensors.py, which is written
independently of MedGen's reader. Usage: /usr/bin/python3 (Debian's python3-torch).
"""
import json
import sys

from read_safetensors import read

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as error:
    sys.exit(
        f"classifier_reference.py: cannot import PyTorch/numpy with {sys.executable} ({error}).\n"
        "The classifier parity test needs Debian's python3-torch: run the README's test command, which installs it."
    )

BN_EPS = 1e-5  # classifier.c's batch norm
TOLERANCE = 1e-4


class Block(nn.Module):
    """[3x3 conv (no bias), batch norm, ReLU] twice, then a 2x average pool."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, 2)


class Classifier(nn.Module):
    """Blocks of width, 2*width, 4*width, 4*width channels, a global average pool (the features), a linear layer."""

    def __init__(self, config):
        super().__init__()
        width, cin, blocks = config["width"], config["channels"], config["blocks"]
        channels = [width * (1 if b == 0 else 2 if b == 1 else 4) for b in range(blocks)]
        self.block = nn.ModuleList()
        for cout in channels:
            self.block.append(Block(cin, cout))
            cin = cout
        self.fc = nn.Linear(cin, config["num_classes"])

    def features(self, x):
        for block in self.block:
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


def load(path):
    metadata, tensors = read(path)
    metadata = dict(metadata)
    config = json.loads(metadata["model.config"])
    model = Classifier(config)
    state = {name[len("model."):]: torch.from_numpy(np.array(array))
             for name, shape, array in tensors if name.startswith("model.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"{path}: the network and the checkpoint disagree: missing {missing}, unexpected {unexpected}")
    return model.eval()


def compare(what, ours, theirs):
    ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    if ours.shape != theirs.shape:
        print(f"{what}: shape {theirs.shape} from medgen, {ours.shape} from PyTorch")
        return False
    error = np.abs(ours - theirs) / (1 + np.abs(ours))
    print(f"{what}: {ours.size} values, largest difference {error.max():.3g} (relative to 1 + |value|)")
    return bool(error.max() <= TOLERANCE)


def check(model_path, outputs_path):
    torch.set_default_dtype(torch.float32)
    model = load(model_path)
    _, tensors = read(outputs_path)
    outputs = {name: np.array(array) for name, _, array in tensors}
    with torch.no_grad():
        images = torch.from_numpy(outputs["images"])
        features = model.features(images)
        logits = model.fc(features)
    ok = compare("features", features.numpy(), outputs["features"])
    ok = compare("logits", logits.numpy(), outputs["logits"]) and ok
    if not ok:
        print(f"FAIL: medgen's classifier and PyTorch's differ by more than {TOLERANCE}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        sys.exit(__doc__)
    sys.exit(check(sys.argv[2], sys.argv[3]))
