#!/usr/bin/python3
"""check_cli_xml.py PROGRAM SCRATCH_DIR: PROGRAM's Slicer CLI description (PROGRAM --xml) is complete and says what
the program accepts.

- The executable names category "Image Synthesis" and a title, description, version, documentation-url, license,
  contributor and acknowledgements. Every parameter group has a label; every parameter a name, a longflag or an
  index, a label and a description; names are unique; image, file and directory parameters have a channel (input or
  output); an enumeration's default is one of its elements; numeric defaults lie within their constraints.
- --help names every flag.
- The program takes every flag: a command line that sets all of them (defaults; inputs that do not exist) gets past
  the argument parser and fails on a missing input instead, writing nothing (but for output folders, where a failure
  may be reported). The parser refuses what the description rules out: an unknown flag, an integer above its maximum
  or below its minimum, an element not in the enumeration.
Argument errors are recognised by the parser's hint "(see PROGRAM --help)". Prints FAIL lines; exits 1 on any.
"""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

program, scratch = sys.argv[1], sys.argv[2]
name = os.path.basename(program)
failures = 0


def fail(message):
    global failures
    failures += 1
    print("FAIL: %s: %s" % (name, message))


def run(args):
    return subprocess.run([program] + args, capture_output=True, text=True, timeout=60)


# Slicer reads what follows "<?xml" in the program's output.
out = run(["--xml"])
text = out.stdout[out.stdout.find("<?xml"):] if "<?xml" in out.stdout else ""
if out.returncode != 0 or not text:
    fail("--xml exits %d without an XML description" % out.returncode)
    sys.exit(1)
root = ET.fromstring(text.encode("utf-8"))
if root.tag != "executable":
    fail("the root element is <%s>, not <executable>" % root.tag)
for field in ("category", "title", "description", "version", "documentation-url", "license", "contributor",
              "acknowledgements"):
    if not (root.findtext(field) or "").strip():
        fail("<executable> lacks <%s>" % field)
if root.findtext("category") != "Image Synthesis":
    fail("category is %r, not 'Image Synthesis'" % root.findtext("category"))

PARAMETER_TAGS = {"integer", "float", "double", "boolean", "string", "string-enumeration", "file", "directory",
                  "image"}
parameters = []
groups = root.findall("parameters")
if not groups:
    fail("no <parameters> group")
for group in groups:
    if not (group.findtext("label") or "").strip():
        fail("a <parameters> group has no <label>")
    for p in group:
        if p.tag in ("label", "description"):
            continue
        if p.tag not in PARAMETER_TAGS:
            fail("unknown parameter element <%s>" % p.tag)
            continue
        parameters.append(p)
        pname = p.findtext("name") or ""
        for field in ("name", "label", "description"):
            if not (p.findtext(field) or "").strip():
                fail("<%s> %r lacks <%s>" % (p.tag, pname, field))
        if not (p.findtext("longflag") or p.findtext("flag") or p.findtext("index")):
            fail("%r has no flag and no index" % pname)
        if p.tag in ("image", "file", "directory") and p.findtext("channel") not in ("input", "output"):
            fail("%s %r has channel %r (need input or output)" % (p.tag, pname, p.findtext("channel")))
        if p.tag == "image" and p.get("type") not in (None, "scalar", "label"):
            fail("image %r has type %r" % (pname, p.get("type")))
        default = p.findtext("default")
        if p.tag == "string-enumeration":
            elements = [e.text for e in p.findall("element")]
            if not elements or default not in elements:
                fail("enumeration %r: default %r is not one of its elements %r" % (pname, default, elements))
        if p.tag in ("integer", "double", "float") and p.find("constraints") is not None:
            lo, hi = float(p.findtext("constraints/minimum")), float(p.findtext("constraints/maximum"))
            if default is None or not lo <= float(default) <= hi:
                fail("%r: default %r is outside [%g, %g]" % (pname, default, lo, hi))
names = [p.findtext("name") for p in parameters]
if len(set(names)) != len(names):
    fail("parameter names repeat: %r" % names)

help_text = run(["--help"]).stdout
for p in parameters:
    if "--" + p.findtext("longflag") not in help_text:
        fail("--help does not mention --%s" % p.findtext("longflag"))

# Every flag at once, each with a value the description allows.
if os.path.isdir(scratch):
    shutil.rmtree(scratch)
os.makedirs(scratch)
everything = []
for p in parameters:
    flag = "--" + p.findtext("longflag")
    if p.tag == "boolean":
        everything.append(flag)
    elif p.tag in ("image", "file", "directory"):
        suffix = {"file": ".safetensors", "image": ".nrrd", "directory": ""}[p.tag]
        kind = "missing" if p.findtext("channel") == "input" else "out"
        everything += [flag, os.path.join(scratch, "%s-%s%s" % (kind, p.findtext("name"), suffix))]
    else:
        everything += [flag, p.findtext("default") or "x"]
out = run(everything)
hint = "see %s --help" % name
if out.returncode != 1 or hint in out.stderr or not out.stderr.strip():
    fail("with every flag set (inputs missing) it should fail on an input, not an argument: exit %d, stderr %r"
         % (out.returncode, out.stderr))
# An output folder may stay, to report the failure (MedGenTrain's monitor folder); nothing else may.
folders = ["out-" + p.findtext("name") for p in parameters
           if p.tag == "directory" and p.findtext("channel") == "output"]
left = [f for f in os.listdir(scratch) if f not in folders]
if left:
    fail("a failed run left files: %r" % left)


def refused(args, why):
    result = run(args)
    if result.returncode != 1 or hint not in result.stderr:
        fail("%s was not refused as an argument error: exit %d, stderr %r" % (why, result.returncode, result.stderr))


refused(everything + ["--noSuchFlag", "1"], "an unknown flag")
for p in parameters:
    flag = "--" + p.findtext("longflag")
    rest = [a for i, a in enumerate(everything) if a != flag and (i == 0 or everything[i - 1] != flag)]
    if p.tag == "integer" and p.find("constraints") is not None:
        for bound, step in (("maximum", 1), ("minimum", -1)):
            value = str(int(float(p.findtext("constraints/" + bound))) + step)
            refused(rest + [flag, value], "%s %s (outside its constraints)" % (flag, value))
    if p.tag == "string-enumeration":
        refused(rest + [flag, "notAnElement"], flag + " notAnElement")
sys.exit(1 if failures else 0)
