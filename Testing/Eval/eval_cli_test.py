"""eval_cli_test.py CASE MEDGEN SCRATCH [EXTRA]: `medgen eval` end to end on generated images (Debian's python3,
standard library; the schema case also python3-jsonschema).

`setup` writes the shared data into SCRATCH (32x32 PNGs of two classes, disks and bars, with random sizes, places
and noise: real/, train/ and sets made from them) and trains a small classifier on train/ as the feature extractor
(fx.safetensors); every other case reads them (CTest fixture eval_cli_data). Each case runs medgen eval once or a few
times and checks what it knows the answer to; failures print "FAIL: ..." and exit 1. Skips exit 77.
"""
import base64
import html.parser
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib

SIZE = 32
PER_CLASS = 40
SHIFT = 76  # 0.3 of the 8-bit range


def png(path, rows):
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", len(rows[0]), len(rows), 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def picture(rng, cls):
    """A disk or horizontal bars on a dark background, values 10..175."""
    background, bright = rng.randint(10, 30), rng.randint(120, 150)
    cx, cy, r = rng.uniform(11, 21), rng.uniform(11, 21), rng.uniform(5, 10)
    period, phase = rng.randint(4, 8), rng.randint(0, 7)
    rows = []
    for y in range(SIZE):
        row = []
        for x in range(SIZE):
            on = (x - cx) ** 2 + (y - cy) ** 2 < r * r if cls == "disk" else (y + phase) % period < period // 2
            row.append(max(0, min(255, (bright if on else background) + rng.randint(-10, 10))))
        rows.append(row)
    return rows


def write_set(folder, seed, transform=lambda v: v):
    rng = random.Random(seed)
    for cls in ("bars", "disk"):
        os.makedirs(f"{folder}/{cls}", exist_ok=True)
        for i in range(PER_CLASS):
            png(f"{folder}/{cls}/{i:03d}.png", [[transform(v) for v in row] for row in picture(rng, cls)])


failed = False


def fail(message):
    global failed
    failed = True
    print("FAIL: " + message)


def run(medgen, *args, expect=0):
    """medgen eval ARGS; the process (stdout, stderr) when its exit status is expect, else None (reported)."""
    p = subprocess.run([medgen, "eval", "--threads", "2", *args], capture_output=True, text=True)
    if p.returncode != expect:
        fail(f"medgen eval {' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stdout}{p.stderr}")
        return None
    return p


def evaluate(medgen, scratch, name, *args):
    """Runs eval with the fixture's feature extractor; the JSON it wrote (None on failure)."""
    out = f"{scratch}/{name}.json"
    if os.path.exists(out):
        os.remove(out)
    p = run(medgen, "--features", f"{scratch}/fx.safetensors", "--out", out, *args)
    if p is None:
        return None
    print(p.stdout, end="")
    with open(out) as f:
        return json.load(f)


def setup(medgen, scratch):
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    write_set(f"{scratch}/real", 1)
    write_set(f"{scratch}/train", 2)
    shutil.copytree(f"{scratch}/real", f"{scratch}/copy")
    write_set(f"{scratch}/shifted", 1, lambda v: min(255, v + SHIFT))
    # the training images under `medgen sample`'s names (labelled by them), and one real image 80 times
    os.makedirs(f"{scratch}/memorized")
    os.makedirs(f"{scratch}/collapsed")
    n = 0
    for cls in ("bars", "disk"):
        for i in range(PER_CLASS):
            shutil.copy(f"{scratch}/train/{cls}/{i:03d}.png", f"{scratch}/memorized/sample-{n:04d}-{cls}.png")
            shutil.copy(f"{scratch}/real/disk/000.png", f"{scratch}/collapsed/image-{n:03d}.png")
            n += 1
    p = subprocess.run([medgen, "train", "--model", "classifier", "--data", f"{scratch}/train", "--out",
                        f"{scratch}/fx", "--size", str(SIZE), "--width", "8", "--steps", "60", "--batch", "16",
                        "--seed", "1", "--threads", "2"], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"training the test's feature extractor: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return
    shutil.copy(f"{scratch}/fx/checkpoint.safetensors", f"{scratch}/fx.safetensors")
    # a feature extractor that knows other class names (a, b): class consistency then trains its own classifier
    shutil.copytree(f"{scratch}/train/bars", f"{scratch}/ab/a")
    shutil.copytree(f"{scratch}/train/disk", f"{scratch}/ab/b")
    p = subprocess.run([medgen, "train", "--model", "classifier", "--data", f"{scratch}/ab", "--out", f"{scratch}/fx2",
                        "--size", str(SIZE), "--width", "4", "--steps", "10", "--batch", "8", "--threads", "2"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"training the second feature extractor: exit {p.returncode}\n{p.stdout}{p.stderr}")


def case_identical(medgen, scratch):
    """real against a copy of itself: FD and KID about 0, precision = recall = 1, the classes agree."""
    r = evaluate(medgen, scratch, "identical", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/copy")
    if r is None:
        return
    m = r["metrics"]
    fd, base = m["frechet_distance"]["value"], m["frechet_distance"]["real_vs_real"]
    if not (base > 0 and fd < 1e-3 * base):
        fail(f"identical sets: Frechet distance {fd}, expected about 0 (real vs real {base})")
    kid = m["kid"]  # the unbiased estimate of a set against itself is slightly negative: within real vs real's noise
    if not abs(kid["mean"]) < abs(kid["real_vs_real_mean"]) + 2 * kid["real_vs_real_std"]:
        fail(f"identical sets: KID {kid}, expected about 0 (within real vs real's)")
    if m["precision_recall"]["precision"] != 1 or m["precision_recall"]["recall"] != 1:
        fail(f"identical sets: precision/recall {m['precision_recall']}, expected 1 and 1")
    if m["intensity_histogram"]["distance"] != 0:
        fail(f"identical sets: histogram distance {m['intensity_histogram']['distance']}, expected 0")
    div = m["ms_ssim_diversity"]
    if div["synthetic"] != div["real"] or not 0 < div["real"] < 0.9:
        fail(f"identical sets: MS-SSIM diversity {div}: expected the same value below 0.9 for both")
    cc = m["class_consistency"]
    if not cc or cc["classifier"] != "feature extractor" or cc["agreement"] != cc["real_accuracy"]:
        fail(f"identical sets: class consistency {cc}: expected the feature extractor, agreeing as on real")
    if r["inputs"]["synthetic"]["images_used"] != 2 * PER_CLASS or r["synthetic_marker"]["marked"] != 0:
        fail(f"identical sets: counts {r['inputs']['synthetic']}, marker {r['synthetic_marker']}")
    # --max-images: evenly spaced over the sorted files, both classes kept
    r = evaluate(medgen, scratch, "capped", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/copy",
                 "--max-images", "10")
    if r and (r["inputs"]["real"]["images_used"] != 10 or r["inputs"]["real"]["images_found"] != 2 * PER_CLASS
              or r["inputs"]["synthetic"]["classes"] != ["bars", "disk"]):
        fail(f"--max-images 10: inputs {r['inputs']}")


def case_shifted(medgen, scratch):
    """intensities + 0.3 of the range: FD far above real vs real, the histograms apart by about the shift."""
    r = evaluate(medgen, scratch, "shifted", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/shifted")
    if r is None:
        return
    m = r["metrics"]
    fd, base = m["frechet_distance"]["value"], m["frechet_distance"]["real_vs_real"]
    if not fd > 5 * base:
        fail(f"shifted set: Frechet distance {fd}, expected well above real vs real {base}")
    h = m["intensity_histogram"]
    if not h["distance"] > 0.2 or abs(h["mean_synthetic"] - h["mean_real"] - SHIFT) > 3:
        fail(f"shifted set: histogram distance {h['distance']}, means {h['mean_real']} and {h['mean_synthetic']}: "
             f"expected > 0.2 and {SHIFT} apart (the real set's units)")
    if m["kid"]["mean"] <= 10 * abs(m["kid"]["real_vs_real_mean"]):
        fail(f"shifted set: KID {m['kid']}, expected far above real vs real")


def case_memorized(medgen, scratch):
    """samples that are the training images: every one closer than the held-out real images, flagged."""
    r = evaluate(medgen, scratch, "memorized", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/memorized",
                 "--train", f"{scratch}/train")
    if r is None:
        return
    mem = r["metrics"]["memorization"]
    if not mem or not mem["flagged"] or mem["pixel"]["fraction_closer"] < 0.95 or \
            mem["feature"]["fraction_closer"] < 0.95:
        fail(f"copied training images: memorization {mem}: expected fractions about 1, flagged")
        return
    if any(p["pixel_distance"] != 0 or p["feature_distance"] != 0 for p in mem["closest_pairs"]) or \
            len(mem["closest_pairs"]) != 8:
        fail(f"copied training images: closest pairs {mem['closest_pairs']}: expected 8 at distance 0")
    if mem["real_in_train"] != 0:
        fail(f"held-out real images counted as training images: {mem['real_in_train']}")
    if r["inputs"]["synthetic"]["classes"] != ["bars", "disk"]:
        fail(f"sample-NNNN-<class>.png names: classes {r['inputs']['synthetic']['classes']}, expected bars and disk")
    # the same numbers on one thread (the last --threads counts)
    one = evaluate(medgen, scratch, "memorized-1", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/memorized",
                   "--train", f"{scratch}/train", "--threads", "1")
    if one:
        one["settings"]["threads"] = r["settings"]["threads"]
        if one != r:
            fail("one thread and two give different results")
    # real images mixed with a few training images: those leave the held-out reference (else its 1st percentile
    # would be 0 and hide the copies), are counted and noted, and the copies are still flagged
    leaky = f"{scratch}/leaky"
    shutil.rmtree(leaky, ignore_errors=True)
    shutil.copytree(f"{scratch}/real", leaky)
    for i in range(4):
        shutil.copy(f"{scratch}/train/bars/{i:03d}.png", f"{leaky}/bars/leak-{i}.png")
    r = evaluate(medgen, scratch, "leaky", "--real", leaky, "--synthetic", f"{scratch}/memorized",
                 "--train", f"{scratch}/train")
    if r:
        mem = r["metrics"]["memorization"]
        if mem["real_in_train"] != 4 or not mem["flagged"] or mem["pixel"]["fraction_closer"] < 0.95 or \
                not any("training set" in n for n in r["notes"]):
            fail(f"real images with 4 training images among them: memorization {mem}, notes {r['notes']}")
    # the samples of an honest model: the real set's other half; not flagged
    r = evaluate(medgen, scratch, "honest", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/copy",
                 "--train", f"{scratch}/train")
    if r and r["metrics"]["memorization"]["flagged"]:
        fail(f"held-out images as samples flagged as copies: {r['metrics']['memorization']}")


def case_collapsed(medgen, scratch):
    """one image repeated: low recall, MS-SSIM diversity 1; unlabelled, so no class consistency."""
    r = evaluate(medgen, scratch, "collapsed", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/collapsed")
    if r is None:
        return
    m = r["metrics"]
    if not m["precision_recall"]["recall"] < 0.1:
        fail(f"collapsed set: recall {m['precision_recall']['recall']}, expected near 0")
    if not m["ms_ssim_diversity"]["synthetic"] > 0.999 or not m["ms_ssim_diversity"]["real"] < 0.9:
        fail(f"collapsed set: MS-SSIM diversity {m['ms_ssim_diversity']}: expected 1 for synthetic, lower for real")
    if m["class_consistency"] is not None:
        fail(f"unlabelled set: class consistency {m['class_consistency']}, expected null")


def case_classes(medgen, scratch):
    """class consistency with a classifier trained on half of the real set (the feature extractor knows other
    classes), and with one given by --classifier, which a shifted set confuses more than real images."""
    fx2 = ["--features", f"{scratch}/fx2/checkpoint.safetensors"]
    out = f"{scratch}/classes.json"
    for synthetic, extra in (("copy", []), ("shifted", ["--classifier", f"{scratch}/fx.safetensors"])):
        if run(medgen, "--real", f"{scratch}/real", "--synthetic", f"{scratch}/{synthetic}", "--out", out, *fx2,
               *extra) is None:
            return
        with open(out) as f:
            cc = json.load(f)["metrics"]["class_consistency"]
        if synthetic == "copy" and (cc["classifier"] != "trained on half of --real" or "recipe" not in cc or
                                    cc["real_images"] != PER_CLASS or not cc["agreement"] >= 0.9 or
                                    [c["class"] for c in cc["per_class"]] != ["bars", "disk"]):
            fail(f"a classifier trained on half of the real set: {cc}")
        if synthetic == "shifted" and (cc["classifier"] != extra[1] or not cc["agreement"] < cc["real_accuracy"]):
            fail(f"--classifier on the shifted set: {cc}: expected it named, agreeing less than on real images")


def case_schema(medgen, scratch, schema_path):
    """the JSON of a run with every part (--train, classes) and of one without validates against the schema."""
    try:
        import jsonschema
    except ImportError:
        print("python3-jsonschema is not installed (Utilities/install-deps.sh installs it): skipped")
        sys.exit(77)
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    for name, synthetic, extra in (("schema-full", "memorized", ["--train", f"{scratch}/train"]),
                                   ("schema-plain", "collapsed", [])):
        r = evaluate(medgen, scratch, name, "--real", f"{scratch}/real", "--synthetic", f"{scratch}/{synthetic}",
                     *extra)
        if r is None:
            continue
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(r), key=lambda e: list(e.path))
        for e in errors:
            fail(f"{name}.json: {'/'.join(map(str, e.path))}: {e.message}")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.cells, self.text, self._key = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "td" and "data-key" in attrs:
            self._key = attrs["data-key"]
            self.cells.append([self._key, ""])

    def handle_endtag(self, tag):
        if tag == "td":
            self._key = None

    def handle_data(self, data):
        self.text.append(data)
        if self._key:
            self.cells[-1][1] += data


def png_size(data):
    """(width, height) of a complete 8-bit gray PNG, decoded to check it; raises ValueError when it is not one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            raise ValueError(f"bad CRC in {kind}")
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour != 0:
                raise ValueError(f"depth {depth} colour type {colour}")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if width is None or len(zlib.decompress(idat)) != height * (width + 1):
        raise ValueError("pixel data does not fit the header")
    return width, height


def json_at(root, key):
    for part in key.split("."):
        root = root[int(part)] if isinstance(root, list) else root[part]
    return root


def case_html(medgen, scratch):
    """the report: each <img> a PNG of its stated size, the table's numbers the JSON's, the warnings in the header."""
    page_path = f"{scratch}/report.html"
    r = evaluate(medgen, scratch, "report", "--real", f"{scratch}/real", "--synthetic", f"{scratch}/memorized",
                 "--train", f"{scratch}/train", "--html", page_path)
    if r is None:
        return
    page = Page()
    with open(page_path) as f:
        page.feed(f.read())
    # grids of synthetic and real, the histogram plot, one picture per closest pair
    if len(page.images) != 3 + len(r["metrics"]["memorization"]["closest_pairs"]):
        fail(f"report: {len(page.images)} images")
    for img in page.images:
        src = img.get("src", "")
        if not src.startswith("data:image/png;base64,"):
            fail(f"report: <img alt={img.get('alt')}> is not an embedded PNG")
            continue
        try:
            size = png_size(base64.b64decode(src.split(",", 1)[1], validate=True))
        except ValueError as e:
            fail(f"report: <img alt={img.get('alt')}> does not decode: {e}")
            continue
        if size != (int(img["width"]), int(img["height"])):
            fail(f"report: <img alt={img.get('alt')}> says {img['width']}x{img['height']}, its PNG is {size}")
    keys = {key for key, _ in page.cells}
    for must in ("metrics.frechet_distance.value", "metrics.frechet_distance.real_vs_real", "metrics.kid.mean",
                 "metrics.precision_recall.precision", "metrics.precision_recall.recall",
                 "metrics.ms_ssim_diversity.synthetic", "metrics.intensity_histogram.distance",
                 "metrics.class_consistency.agreement", "metrics.memorization.pixel.fraction_closer"):
        if must not in keys:
            fail(f"report: the metric table lacks {must}")
    for key, text in page.cells:
        want = json_at(r, key)
        if not math.isclose(float(text), want, rel_tol=1e-5, abs_tol=1e-12):
            fail(f"report: {key} shows {text}, the JSON has {want}")
    words = " ".join(page.text)
    for phrase in ("marked synthetic", "contains real images", "keep it local"):
        if phrase not in words:
            fail(f"report: the header does not say '{phrase}'")


def case_bad_inputs(medgen, scratch):
    """missing, empty and unreadable inputs and an --out in a missing folder: exit 1 naming the path, no files."""
    bad = f"{scratch}/bad"
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(f"{bad}/empty")
    os.makedirs(f"{bad}/broken")
    os.makedirs(f"{bad}/folder")  # a report that cannot take its place, found only at the end: the JSON goes too
    shutil.copy(f"{scratch}/real/disk/000.png", f"{bad}/folder/a.png")
    shutil.copy(f"{scratch}/real/disk/000.png", f"{bad}/broken/a.png")
    with open(f"{bad}/broken/b.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nthis is not a PNG")
    out, page = f"{bad}/m.json", f"{bad}/m.html"
    fx = ["--features", f"{scratch}/fx.safetensors"]
    real = ["--real", f"{scratch}/real"]
    cases = [
        ("missing folder", f"{bad}/nowhere", real + ["--synthetic", f"{bad}/nowhere"] + fx + ["--out", out]),
        ("empty folder", f"{bad}/empty", real + ["--synthetic", f"{bad}/empty"] + fx + ["--out", out]),
        ("unreadable image", f"{bad}/broken/b.png", real + ["--synthetic", f"{bad}/broken"] + fx + ["--out", out]),
        ("--out in a missing folder", f"{bad}/no/m.json",
         real + ["--synthetic", f"{scratch}/copy"] + fx + ["--out", f"{bad}/no/m.json"]),
        ("--html in a missing folder", f"{bad}/no/m.html",
         real + ["--synthetic", f"{scratch}/copy"] + fx + ["--out", out, "--html", f"{bad}/no/m.html"]),
        ("--html names a folder", f"{bad}/folder",
         real + ["--synthetic", f"{scratch}/copy"] + fx + ["--out", out, "--html", f"{bad}/folder"]),
        ("missing feature extractor", f"{bad}/fx.safetensors",
         real + ["--synthetic", f"{scratch}/copy", "--features", f"{bad}/fx.safetensors", "--out", out]),
        ("a stack that is not one", f"{bad}/broken/a.png", real + ["--synthetic", f"{bad}/broken/a.png"] + fx +
         ["--out", out]),
    ]
    for what, path, args in cases:
        p = run(medgen, *args, "--html", page, expect=1) if "--html" not in args else run(medgen, *args, expect=1)
        if p is None:
            continue
        if path not in p.stderr:
            fail(f"{what}: the message does not name {path}:\n{p.stderr}")
        left = [f for f in os.listdir(bad) if f not in ("empty", "broken", "folder")]
        if left:
            fail(f"{what}: left {left} behind")
    for args in (["--real", "x"], ["--real", "x", "--synthetic", "y", "--out", "z", "--bogus"],
                 ["--real", "x", "--synthetic", "y", "--out", "z", "--max-images", "0"]):
        run(medgen, *args, expect=2)


def case_stack(medgen, scratch):
    """a stack from medgen sample reads back as the PNGs the same seed gives: same pixels within 8-bit rounding, in
    the same order and orientation, with its classes from the list beside it and its synthetic marker counted."""
    work = f"{scratch}/stack"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(f"{work}/data")
    rng = random.Random(3)
    for cls in ("bars", "disk"):
        os.makedirs(f"{work}/data/{cls}")
        for i in range(4):
            png(f"{work}/data/{cls}/{i}.png", [row[:16] for row in picture(rng, cls)[:16]])
    steps = ["--steps", "2", "--batch", "4", "--threads", "2"]
    for args in (["train", "--model", "ddpm", "--data", f"{work}/data", "--out", f"{work}/run", *steps,
                  "--base-channels", "8", "--channel-mult", "1,2", "--attention", "0,1", "--head-channels", "8",
                  "--groups", "4", "--temb-channels", "16"],
                 *[["sample", "--checkpoint", f"{work}/run/checkpoint.safetensors", "--n", "6", "--steps", "2",
                    "--seed", "5", "--threads", "2", "--out", target] for target in
                   (f"{work}/pngs/", f"{work}/a.nii.gz", f"{work}/a.nrrd", f"{work}/a.mha")]):
        p = subprocess.run([medgen, *args], capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"medgen {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
            return
    for stack in ("a.nii.gz", "a.nrrd", "a.mha"):
        r = evaluate(medgen, scratch, f"stack-{stack}", "--real", f"{work}/data", "--synthetic", f"{work}/{stack}",
                     "--train", f"{work}/pngs")
        if r is None:
            continue
        pairs = r["metrics"]["memorization"]["closest_pairs"]
        tolerance = 0.5 / 127.5 * 16  # half an 8-bit step on every one of 16x16 pixels
        if len(pairs) != 6:
            fail(f"{stack}: {len(pairs)} pairs, expected one per image")
        for p in pairs:
            k = int(p["sample"].rsplit("#", 1)[1])
            if p["pixel_distance"] > tolerance or not os.path.basename(p["training_image"]).startswith(
                    f"sample-{k:04d}-"):
                fail(f"{stack}: slice {k} is nearest {p['training_image']} at {p['pixel_distance']}: expected "
                     f"sample-{k:04d} within {tolerance}")
        syn = r["inputs"]["synthetic"]
        if syn["kind"] != "stack" or syn["classes"] != ["bars", "disk"] or r["synthetic_marker"] != \
                {"files": 1, "marked": 1} or r["inputs"]["train"]["marked_synthetic"] != 6:
            fail(f"{stack}: inputs {r['inputs']}, marker {r['synthetic_marker']}")
    # real images that are all training images leave no held-out reference: refused, naming the real set
    p = subprocess.run([medgen, "eval", "--real", f"{work}/pngs", "--synthetic", f"{work}/a.nii.gz", "--train",
                        f"{work}/pngs", "--out", f"{work}/overlap.json"], capture_output=True, text=True)
    if p.returncode != 1 or f"{work}/pngs" not in p.stderr or "held-out" not in p.stderr or \
            os.path.exists(f"{work}/overlap.json"):
        fail(f"real images that are all training images: exit {p.returncode}, {p.stderr.strip()}")


def case_mednist(medgen, scratch, data_dir):
    """real MedNIST: HeadCT against other HeadCT images scores near the real-vs-real baseline (two random halves of
    the real set), on the scale of what HeadCT against Hand scores."""
    import tarfile
    archive = f"{data_dir}/MedNIST-64.tar.gz"
    if not os.path.exists(archive):
        print(f"{archive} is absent: skipped")
        sys.exit(77)
    work = f"{scratch}/mednist"
    shutil.rmtree(work, ignore_errors=True)
    wanted = {"HeadCT": 300, "Hand": 150}
    files = {k: [] for k in wanted}
    with tarfile.open(archive) as tar:
        for member in tar:
            cls = member.name.split("/")[-2] if member.isfile() else None
            if cls in wanted and len(files[cls]) < wanted[cls]:
                files[cls].append((os.path.basename(member.name), tar.extractfile(member).read()))
            if all(len(files[k]) == wanted[k] for k in wanted):
                break
    random.Random(1).shuffle(files["HeadCT"])  # two random halves of one class: the same distribution
    groups = {"HeadCT-a": files["HeadCT"][::2], "HeadCT-b": files["HeadCT"][1::2], "Hand": files["Hand"]}
    for group, members in groups.items():
        os.makedirs(f"{work}/{group}/{group.split('-')[0]}")
        for name, data in members:
            with open(f"{work}/{group}/{group.split('-')[0]}/{name}", "wb") as f:
                f.write(data)
    shipped = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "../../Logic/Eval/FeatureExtractor/mednist64-v1.safetensors"))
    fx = [] if shipped else ["--features", f"{scratch}/fx.safetensors"]
    results = {}
    for name, synthetic in (("same", "HeadCT-b"), ("other", "Hand")):
        out = f"{work}/{name}.json"
        if run(medgen, "--real", f"{work}/HeadCT-a", "--synthetic", f"{work}/{synthetic}", "--out", out, *fx) is None:
            return
        with open(out) as f:
            results[name] = json.load(f)["metrics"]["frechet_distance"]
    same, other = results["same"], results["other"]
    print(f"features: {'shipped' if shipped else 'the test classifier'}; HeadCT vs HeadCT: FD {same['value']:.4g} "
          f"(real vs real {same['real_vs_real']:.4g}); HeadCT vs Hand: FD {other['value']:.4g}")
    if not other["value"] > 5 * other["real_vs_real"]:
        fail(f"MedNIST HeadCT against Hand: FD {other['value']}, expected far above real vs real "
             f"{other['real_vs_real']}")
    if not same["value"] < same["real_vs_real"] + 0.1 * other["value"]:
        fail(f"MedNIST HeadCT against HeadCT: FD {same['value']}, expected near real vs real {same['real_vs_real']} "
             f"(HeadCT against Hand: {other['value']})")


def case_augment(medgen, scratch):
    """`medgen bench augment` (the augmentation benchmark's classifier): the two classes of the fixture are told
    apart (AUC and accuracy near 1), a validation set with its class folders swapped scores AUC near 0, synthetic
    images add to the count, and an extra folder with other classes is refused, naming it."""
    def bench(*args, expect=0):
        p = subprocess.run([medgen, "bench", "augment", "--size", str(SIZE), "--steps", "60", "--batch", "16",
                            "--width", "8", "--threads", "2", *args], capture_output=True, text=True)
        if p.returncode != expect:
            fail(f"medgen bench augment {' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stdout}{p.stderr}")
            return None
        return p
    def scores(p):
        return dict(kv.split("=") for kv in p.stdout.strip().splitlines()[-1].split())
    swapped = f"{scratch}/swapped"
    shutil.rmtree(swapped, ignore_errors=True)
    shutil.copytree(f"{scratch}/real/bars", f"{swapped}/disk")
    shutil.copytree(f"{scratch}/real/disk", f"{swapped}/bars")
    p = bench("--train", f"{scratch}/train", "--val", f"{scratch}/real")
    if p:
        r = scores(p)
        if float(r["auc"]) < 0.95 or float(r["accuracy"]) < 0.9 or r["real"] != str(2 * PER_CLASS) or \
                r["synthetic"] != "0" or r["val"] != str(2 * PER_CLASS):
            fail(f"two distinct classes: {r}, expected AUC and accuracy near 1")
    p = bench("--train", f"{scratch}/train", "--val", swapped)
    if p and float(scores(p)["auc"]) > 0.05:
        fail(f"swapped validation classes: {scores(p)}, expected AUC near 0")
    p = bench("--train", f"{scratch}/train", "--extra", f"{scratch}/copy", "--val", f"{scratch}/real")
    if p and scores(p)["synthetic"] != str(2 * PER_CLASS):
        fail(f"--extra: {scores(p)}, expected {2 * PER_CLASS} synthetic images")
    p = bench("--train", f"{scratch}/train", "--extra", f"{scratch}/ab", "--val", f"{scratch}/real", expect=1)
    if p and f"{scratch}/ab" not in p.stderr:
        fail(f"--extra with other classes: the message does not name the folder: {p.stderr.strip()}")


def main():
    case, medgen, scratch = sys.argv[1:4]
    extra = sys.argv[4:]
    if case == "setup":
        setup(medgen, scratch)
    else:
        globals()["case_" + case](medgen, scratch, *extra)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
