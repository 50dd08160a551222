#!/usr/bin/python3
"""Checks MedGen's 3D Slicer extension description and its CMake extension mode.

  check_extension.py description SOURCE_DIR
      MedGen.s4ext (keyword-value syntax, known keywords, required ones present), MedGen.json (ExtensionsIndex entry,
      schema 1.0.2: required fields, no unknown ones, types, category), the first project() of CMakeLists.txt (MedGen,
      the entry's name), the EXTENSION_* values of CMakeLists.txt against the s4ext, the icon and screenshot URLs
      against files of the repository, and LICENSE.
  check_extension.py configure SOURCE_DIR STUB_DIR WORK_DIR CMAKE
      configures SOURCE_DIR in extension mode against the Slicer test double in STUB_DIR and checks what the double
      recorded: the module and its logic built with the expected sources and libraries, the CLI modules and shared
      engine libraries where Slicer looks for them, the extension description as CMake evaluated it.
Prints every problem found and exits 1 when there is one."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys

KNOWN_KEYWORDS = {"scm", "scmurl", "scmrevision", "depends", "build_subdirectory", "homepage", "contributors",
                  "category", "iconurl", "status", "description", "screenshoturls", "enabled"}
REQUIRED_KEYWORDS = {"scm", "scmurl", "scmrevision", "depends", "build_subdirectory", "homepage", "contributors",
                     "category", "iconurl", "description"}
# EXTENSION_* variable of CMakeLists.txt -> s4ext keyword
CMAKE_TO_S4EXT = {"HOMEPAGE": "homepage", "CATEGORY": "category", "CONTRIBUTORS": "contributors",
                  "DESCRIPTION": "description", "ICONURL": "iconurl", "SCREENSHOTURLS": "screenshoturls",
                  "STATUS": "status", "DEPENDS": "depends"}
JSON_SCHEMA = "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json#"
JSON_TYPES = {"$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
              "build_dependencies": list, "dicom_support_rule": str, "build_subdirectory": str, "enabled": bool,
              "tier": int}
JSON_REQUIRED = {"$schema", "category", "scm_url"}
EXTENSION_NAME = "MedGen"
ICON_SIZE = (128, 128)

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


def read_s4ext(path):
    """keyword -> value of a .s4ext file; reports syntax problems."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.fullmatch(r"(\w+) +(\S.*)", line)
            if not m:
                problem(f"{path}:{number}", f"not a 'keyword value' line: {line!r}")
                continue
            keyword, value = m.group(1), m.group(2).rstrip()
            if keyword not in KNOWN_KEYWORDS:
                problem(f"{path}:{number}", f"unknown keyword {keyword!r}")
            if keyword in values:
                problem(f"{path}:{number}", f"keyword {keyword!r} given twice")
            values[keyword] = value
    for keyword in sorted(REQUIRED_KEYWORDS - values.keys()):
        problem(path, f"required keyword {keyword!r} missing")
    if values.get("scm") not in (None, "git"):
        problem(path, f"scm is {values['scm']!r}, expected git")
    if values.get("enabled") not in (None, "0", "1"):
        problem(path, f"enabled is {values['enabled']!r}, expected 0 or 1")
    return values


def cmake_without_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def check_cmake(source_dir, s4ext):
    path = os.path.join(source_dir, "CMakeLists.txt")
    text = cmake_without_comments(open(path, encoding="utf-8").read())
    first = re.search(r"\bproject\s*\(\s*([\w-]+)", text, re.I)
    if not first or first.group(1) != EXTENSION_NAME:
        problem(path, f"the first project() is {first.group(1) if first else 'missing'}, expected {EXTENSION_NAME}")
    for var, keyword in CMAKE_TO_S4EXT.items():
        sets = re.findall(rf'\bset\s*\(\s*EXTENSION_{var}\s+"([^"]*)"\s*\)', text)
        if len(sets) != 1:
            problem(path, f'expected one set(EXTENSION_{var} "...") , found {len(sets)}')
        elif sets[0] != s4ext.get(keyword):
            problem(path, f"EXTENSION_{var} is {sets[0]!r} but MedGen.s4ext's {keyword} is {s4ext.get(keyword)!r}")


def check_json(source_dir, s4ext):
    path = os.path.join(source_dir, EXTENSION_NAME + ".json")
    try:
        entry = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        problem(path, f"not readable JSON: {e}")
        return
    for key in sorted(JSON_REQUIRED - entry.keys()):
        problem(path, f"required field {key!r} missing")
    for key, value in entry.items():
        if key not in JSON_TYPES:
            problem(path, f"field {key!r} is not in schema 1.0.2")
        elif not isinstance(value, JSON_TYPES[key]) or (JSON_TYPES[key] is int and isinstance(value, bool)):
            problem(path, f"field {key!r} should be a {JSON_TYPES[key].__name__}")
    if entry.get("$schema") != JSON_SCHEMA:
        problem(path, f"$schema is {entry.get('$schema')!r}, expected {JSON_SCHEMA}")
    if "tier" in entry and not 1 <= entry["tier"] <= 5:
        problem(path, "tier must be 1 to 5")
    for key, keyword in (("category", "category"), ("scm_url", "scmurl"), ("scm_revision", "scmrevision"),
                         ("build_subdirectory", "build_subdirectory")):
        if key in entry and entry[key] != s4ext.get(keyword):
            problem(path, f"{key} is {entry[key]!r} but MedGen.s4ext's {keyword} is {s4ext.get(keyword)!r}")
    if entry.get("category") != "Image Synthesis":
        problem(path, f"category is {entry.get('category')!r}, expected 'Image Synthesis'")
    depends = s4ext.get("depends", "NA")
    expected = [] if depends == "NA" else depends.split()
    if entry.get("build_dependencies", []) != expected:
        problem(path, f"build_dependencies {entry.get('build_dependencies')} disagree with depends {depends!r}")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_urls(source_dir, s4ext):
    path = os.path.join(source_dir, EXTENSION_NAME + ".s4ext")
    homepage = s4ext.get("homepage", "")
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", homepage)
    if not m:
        problem(path, f"homepage {homepage!r} is not a GitHub repository address")
        return
    owner, repo = m.groups()
    if s4ext.get("scmurl") not in (homepage, homepage + ".git"):
        problem(path, f"scmurl {s4ext.get('scmurl')!r} is not the homepage's repository")
    raw = f"https://raw.githubusercontent.com/{owner}/{repo}/{s4ext.get('scmrevision')}/"
    urls = [("iconurl", s4ext.get("iconurl", ""))] + [("screenshoturls", u)
                                                    for u in s4ext.get("screenshoturls", "").split()]
    for keyword, url in urls:
        if not url.startswith(raw):
            problem(path, f"{keyword} {url!r} is not a file of {raw}")
            continue
        file = os.path.join(source_dir, url[len(raw):])
        if not os.path.isfile(file):
            problem(path, f"{keyword} {url!r}: {os.path.relpath(file, source_dir)} is not in the repository")
        elif png_size(file) is None:
            problem(file, "not a PNG image")
        elif keyword == "iconurl" and png_size(file) != ICON_SIZE:
            problem(file, f"icon is {png_size(file)}, expected {ICON_SIZE}")
    license_file = os.path.join(source_dir, "LICENSE")
    if not os.path.isfile(license_file) or "License" not in open(license_file, encoding="utf-8").read(4000):
        problem(license_file, "missing or not a license text")


def check_description(source_dir):
    s4ext = read_s4ext(os.path.join(source_dir, EXTENSION_NAME + ".s4ext"))
    check_cmake(source_dir, s4ext)
    check_json(source_dir, s4ext)
    check_urls(source_dir, s4ext)


def check_configure(source_dir, stub_dir, work_dir, cmake):
    shutil.rmtree(work_dir, ignore_errors=True)
    run = subprocess.run([cmake, "-S", source_dir, "-B", work_dir, f"-DSlicer_DIR={stub_dir}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        problem(work_dir, "configuring in extension mode failed:\n" + run.stdout[-4000:])
        return
    record_path = os.path.join(work_dir, "SlicerStubRecord.txt")
    lines = open(record_path, encoding="utf-8").read().splitlines()
    record = dict(line.split("=", 1) for line in lines if "=" in line)
    calls = [line for line in lines if "=" not in line]
    # Order of the extension template: Slicer's use file, the modules, then config generation and packaging.
    expected_order = ["UseSlicer", "SlicerMacroBuildModuleLogic", "slicerMacroBuildLoadableModule",
                      "GenerateConfig", "CPack"]
    if calls != expected_order:
        problem(record_path, f"calls {calls}, expected {expected_order}")
    module_dir = os.path.join(source_dir, "SlicerMedGen")
    expect = {
        "UseSlicer.EXTENSION_NAME": EXTENSION_NAME,
        "slicerMacroBuildLoadableModule.NAME": "MedGen",
        "slicerMacroBuildLoadableModule.SRCS": " ".join(os.path.join(module_dir, f) for f in (
            "qSlicerMedGenModule.cxx", "qSlicerMedGenModule.h", "qSlicerMedGenModuleWidget.cxx",
            "qSlicerMedGenModuleWidget.h")),
        "slicerMacroBuildLoadableModule.UI_SRCS": os.path.join(module_dir, "Resources/UI/qSlicerMedGenModuleWidget.ui"),
        "slicerMacroBuildLoadableModule.RESOURCES": os.path.join(module_dir, "Resources/qSlicerMedGenModule.qrc"),
        "slicerMacroBuildLoadableModule.TARGET_LIBRARIES": "vtkSlicerMedGenModuleLogic medgen_widgets",
        "SlicerMacroBuildModuleLogic.NAME": "vtkSlicerMedGenModuleLogic",
        "SlicerMacroBuildModuleLogic.SRCS": " ".join(os.path.join(module_dir, "Logic", f) for f in (
            "vtkSlicerMedGenLogic.cxx", "vtkSlicerMedGenLogic.h")),
        "SlicerMacroBuildModuleLogic.TARGET_LIBRARIES": "medgen_vtk",
    }
    for key, value in expect.items():
        if record.get(key) != value:
            problem(record_path, f"{key} is {record.get(key)!r}, expected {value!r}")
    for key in ("slicerMacroBuildLoadableModule.SRCS", "slicerMacroBuildLoadableModule.UI_SRCS",
                "slicerMacroBuildLoadableModule.RESOURCES", "SlicerMacroBuildModuleLogic.SRCS"):
        for file in record.get(key, "").split():
            if not os.path.isfile(file):
                problem(record_path, f"{key}: {file} does not exist")
    loadable = os.path.join(work_dir, "lib/Slicer-5.12/qt-loadable-modules")
    cli = os.path.join(work_dir, "lib/Slicer-5.12/cli-modules")
    for target in ("medgen_kernels", "medgen_engine", "medgen_io", "medgen_itk", "medgen_vtk", "medgen_widgets"):
        want = f"SHARED_LIBRARY library:{loadable} runtime:{loadable}"
        if record.get(f"target.{target}") != want:
            problem(record_path, f"target {target}: {record.get(f'target.{target}')!r}, expected {want!r}")
    for target in ("MedGenTrain", "MedGenSample"):
        got = record.get(f"target.{target}", "")
        if not got.startswith("EXECUTABLE") or not got.endswith(f"runtime:{cli}"):
            problem(record_path, f"CLI module {target}: {got!r}, expected an executable written to {cli}")
    s4ext = read_s4ext(os.path.join(source_dir, EXTENSION_NAME + ".s4ext"))
    for var, keyword in CMAKE_TO_S4EXT.items():
        if record.get(f"EXTENSION_{var}") != s4ext.get(keyword):
            problem(record_path, f"EXTENSION_{var} evaluated to {record.get(f'EXTENSION_{var}')!r}, "
                                 f"MedGen.s4ext's {keyword} is {s4ext.get(keyword)!r}")
    install_rules = open(os.path.join(work_dir, "cmake_install.cmake"), encoding="utf-8").read()
    if "lib/Slicer-5.12/qt-loadable-modules" not in install_rules:
        problem(work_dir, "no install rule into lib/Slicer-5.12/qt-loadable-modules")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "description":
        check_description(os.path.abspath(sys.argv[2]))
    elif len(sys.argv) == 6 and sys.argv[1] == "configure":
        check_configure(*(os.path.abspath(a) for a in sys.argv[2:5]), sys.argv[5])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
