#!/usr/bin/env python3
"""nifti_nibabel_check.py: reads the NIfTI files MedGen's test wrote with nibabel, an independent reader used by
neuroimaging tools, and checks shape, voxel size, values, orientation and the synthetic marker.

  nifti_nibabel_check.py DIR   DIR holds volume.nii.gz (5x4x3, synthetic) and slice.nii (5x4, not synthetic), voxel
                               i (x fastest) = i * 0.5 - 7, voxel size 0.5 x 0.75 x 2 mm

Exits 77 (CTest's skip code) when nibabel or numpy is missing, 1 on a mismatch.
"""
import os
import sys

try:
    import nibabel as nib
    import numpy as np
except ImportError:
    print("SKIPPED: nibabel (Debian's python3-nibabel) is not available")
    sys.exit(77)

failures = 0


def check(cond, message):
    global failures
    if not cond:
        print(f"FAIL: {message}", file=sys.stderr)
        failures += 1


values = (np.arange(60, dtype=np.float32) * 0.5 - 7).reshape(3, 4, 5).transpose(2, 1, 0)  # to nibabel's x, y, z
cases = [("volume.nii.gz", (5, 4, 3), values, True), ("slice.nii", (5, 4), values[:, :, 0], False)]
for name, shape, expected, synthetic in cases:
    path = os.path.join(sys.argv[1], name)
    img = nib.load(path)
    h = img.header
    check(img.shape == shape, f"{name}: shape {img.shape}, expected {shape}")
    check(h.get_data_dtype() == np.float32, f"{name}: dtype {h.get_data_dtype()}")
    check(img.dataobj.offset >= 352 and img.dataobj.offset % 16 == 0,
          f"{name}: voxels at {img.dataobj.offset}, expected 352 or after 16-byte extensions")
    check(np.array_equal(np.asarray(img.dataobj), expected), f"{name}: values differ")
    check(np.allclose(h.get_zooms(), (0.5, 0.75, 2.0)[: len(shape)]), f"{name}: zooms {h.get_zooms()}")
    check(np.allclose(img.affine, np.diag([0.5, 0.75, 2.0, 1.0])), f"{name}: affine\n{img.affine}")
    check(int(h["qform_code"]) == 1 and int(h["sform_code"]) == 1, f"{name}: qform/sform codes")
    check(np.allclose(img.get_qform(), img.get_sform()), f"{name}: qform and sform disagree")
    check(h.get_xyzt_units()[0] == "mm", f"{name}: units {h.get_xyzt_units()}")
    descrip = h["descrip"].tobytes().rstrip(b"\0").decode()
    intent = h["intent_name"].tobytes().rstrip(b"\0").decode()
    marked = descrip.startswith("MedGen SYNTHETIC") and intent == "MedGenSynth"
    check(marked == synthetic, f"{name}: descrip {descrip!r}, intent {intent!r}, synthetic {synthetic}")
print(f"nibabel {nib.__version__}: {len(cases)} files checked, {failures} failures")
sys.exit(1 if failures else 0)
