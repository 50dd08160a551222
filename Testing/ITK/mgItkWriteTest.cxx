// mg_itk_write_stack (Logic/ITK/mg_itk.h) in every format, read back with ITK (and NIfTI's header bytes directly):
//   - pixel type, size, spacing and values for each of the eight pixel types (integer types rounded to nearest and
//     clamped; DICOM's float within one step of its rescale), top row first in every format, and every pixel at the
//     same patient position in every format (LPS (c*mm, r*mm, k), the NRRD's);
//   - the synthetic mark: NIfTI's descrip and intent name, every field in its comment extension (long fields too,
//     read back with Logic/IO's reader as well), every MedGen_* key of NRRD and MetaImage, DICOM's
//     ImageType, SeriesDescription, ImageComments, ConversionType, Modality, PatientName, BurnedInAnnotation and
//     new UIDs (one study and series per write, one SOP instance per file);
//   - atomicity: a missing directory, an unknown extension or pixel type, a target that cannot be replaced and an
//     existing non-empty DICOM directory all fail naming the file and leave nothing (no temporary either);
//   - mg_itk_fingerprint is FNV-1a 64 of the bytes, and a missing file is named.
// Two more modes serve test_medgen_sample_formats.sh:
//   mgItkWriteTest --describe PATH           prints what a written stack says about itself and its values
//   mgItkWriteTest --classifier-checkpoint F writes a tiny classifier checkpoint (a model `medgen sample` refuses)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <zlib.h>

#include "itkGDCMImageIO.h"
#include "itkGDCMSeriesFileNames.h"
#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageSeriesReader.h"
#include "itkMedGenImageSource.h"
#include "itkMetaDataObject.h"
#include "itkTestCheck.h"
#include "itksys/Directory.hxx"
#include "itksys/SystemTools.hxx"
#include "medgen.h"
#include "mg_io.h"
#include "mg_itk.h"

namespace
{
using medgen_test::Check;

using ReadImage = itk::Image<double, 3>;

// What a stack holds, read back through ITK: values, geometry, the component type ITK reports and its dictionary
// (a DICOM series: one dictionary per file).
struct Stack
{
  ReadImage::Pointer image;
  std::string component;
  std::vector<itk::MetaDataDictionary> dicts;
};

std::string
Trim(std::string s)
{
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0'))
    s.pop_back();
  return s;
}

std::string
Key(const itk::MetaDataDictionary &d, const std::string &key)
{
  std::string v;
  return itk::ExposeMetaData<std::string>(d, key, v) ? Trim(v) : std::string("<missing>");
}

Stack
ReadStack(const std::string &path)
{
  Stack s;
  if (path.back() == '/')
  {
    auto io = itk::GDCMImageIO::New();
    auto names = itk::GDCMSeriesFileNames::New();
    names->SetDirectory(path);
    auto reader = itk::ImageSeriesReader<ReadImage>::New();
    reader->SetImageIO(io);
    reader->SetFileNames(names->GetInputFileNames());
    reader->Update();
    s.image = reader->GetOutput();
    s.component = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
    for (auto *d : *reader->GetMetaDataDictionaryArray())
      s.dicts.push_back(*d);
    return s;
  }
  auto reader = itk::ImageFileReader<ReadImage>::New();
  reader->SetFileName(path);
  reader->Update();
  s.image = reader->GetOutput();
  s.component = itk::ImageIOBase::GetComponentTypeAsString(reader->GetImageIO()->GetComponentType());
  s.dicts.push_back(reader->GetImageIO()->GetMetaDataDictionary());
  return s;
}

// NIfTI's 348-byte header, through zlib (which reads .nii as it is).
std::vector<unsigned char>
NiftiHeader(const std::string &path)
{
  std::vector<unsigned char> h(348, 0);
  gzFile g = gzopen(path.c_str(), "rb");
  if (!g || gzread(g, h.data(), 348) != 348)
    h.clear();
  if (g)
    gzclose(g);
  return h;
}

std::string
HeaderText(const std::vector<unsigned char> &h, int offset, int bytes)
{
  const char *text = reinterpret_cast<const char *>(h.data()) + offset;
  return std::string(text, strnlen(text, static_cast<size_t>(bytes)));
}

int
HeaderI16(const std::vector<unsigned char> &h, int offset)
{
  int16_t v;
  std::memcpy(&v, h.data() + offset, 2);
  return v;
}

bool
LeftOvers(const std::string &dir)
{
  itksys::Directory d;
  d.Load(dir);
  for (unsigned long i = 0; i < d.GetNumberOfFiles(); ++i)
    if (std::strstr(d.GetFile(i), ".medgen-"))
      return true;
  return false;
}

// The value a pixel type stores for v, by the rule mg_itk.h states, independently of the writer's code.
double
Expected(const std::string &type, double v)
{
  struct Range
  {
    const char *name;
    double lo, hi;
  };
  const Range ranges[] = { { "unsigned_char", 0, 255 },         { "char", -128, 127 },
                           { "unsigned_short", 0, 65535 },      { "short", -32768, 32767 },
                           { "unsigned_int", 0, 4294967295.0 }, { "int", -2147483648.0, 2147483647.0 } };
  for (const Range &r : ranges)
    if (type == r.name)
      return std::min(r.hi, std::max(r.lo, std::nearbyint(v)));
  return type == "float" ? static_cast<double>(static_cast<float>(v)) : v;
}

constexpr int kSize = 6, kCount = 3;
constexpr double kMm = 0.7;

// Values with negatives and fractions; with extremes also ones that exercise rounding (halves round to even:
// 2.5 -> 2, -3.5 -> -4) and clamping at every integer type's ends. DICOM's float gets no extremes: its 16-bit
// levels span the values' range, and a range of 1e10 would hide any error in them.
std::vector<float>
TestImages(bool extremes)
{
  const float special[] = { 2.5f, -3.5f, 2.6f, -2.6f, 40000.0f, -40000.0f, 300.0f, -200.0f, 70000.0f, 5e9f, -5e9f };
  const size_t specials = extremes ? sizeof special / sizeof *special : 0;
  std::vector<float> v(static_cast<size_t>(kCount) * kSize * kSize);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = i < specials ? special[i] : static_cast<float>(std::sin(0.37 * i) * 150.0 + i);
  return v;
}

mg_itk_synthetic_info
TestInfo()
{
  mg_itk_synthetic_info info{};
  info.model_fingerprint = "fnv1a64:0123456789abcdef";
  info.model_type = "ddpm";
  info.sampler = "ddim";
  info.steps = 50;
  info.seed = 7;
  info.class_name = "disc";
  info.guidance = 2.5;
  info.model_file = "/models/run/checkpoint.safetensors";
  info.weights = "ema";
  return info;
}

// One patient space in every format: pixel (row r, column c) of image k lies at LPS (c * mm, r * mm, k), the same
// point as in reference (the NRRD stack of the same type; null for the NRRD itself).
void
CheckPositions(const std::string &path, const Stack &s, const ReadImage *reference)
{
  int bad = 0;
  std::string first;
  for (int k = 0; k < kCount; ++k)
    for (int r = 0; r < kSize; ++r)
      for (int c = 0; c < kSize; ++c)
      {
        const ReadImage::IndexType index{ { c, r, k } };
        ReadImage::PointType p, q;
        s.image->TransformIndexToPhysicalPoint(index, p);
        const double want[3] = { c * kMm, r * kMm, static_cast<double>(k) };
        if (reference)
          reference->TransformIndexToPhysicalPoint(index, q);
        bool ok = true;
        for (int i = 0; i < 3; ++i)
          ok = ok && std::fabs(p[i] - want[i]) < 1e-5 && (!reference || std::fabs(p[i] - q[i]) < 1e-5);
        if (!ok && !bad++)
          first = " (first: pixel r " + std::to_string(r) + " c " + std::to_string(c) + " of image " +
                  std::to_string(k) + " at " + std::to_string(p[0]) + "," + std::to_string(p[1]) + "," +
                  std::to_string(p[2]) + ")";
      }
  Check(bad == 0, path + ": " + std::to_string(bad) + " pixels away from LPS (c*mm, r*mm, k)" +
                    (reference ? " or from the NRRD's position" : "") + first);
}

void
CheckValues(const std::string &path, const Stack &s, const std::string &type, const std::vector<float> &images)
{
  const auto size = s.image->GetLargestPossibleRegion().GetSize();
  Check(size[0] == kSize && size[1] == kSize && size[2] == kCount, path + ": size");
  const auto spacing = s.image->GetSpacing();
  Check(std::fabs(spacing[0] - kMm) < 1e-6 && std::fabs(spacing[1] - kMm) < 1e-6 && std::fabs(spacing[2] - 1) < 1e-6,
        path + ": spacing " + std::to_string(spacing[0]) + " " + std::to_string(spacing[1]) + " " +
          std::to_string(spacing[2]));
  if (size[0] != kSize || size[1] != kSize || size[2] != kCount)
    return;
  const bool rescaled = path.back() == '/' && (type == "float" || type == "double");
  double lo = images[0], hi = images[0];
  for (float v : images)
    lo = std::min(lo, static_cast<double>(v)), hi = std::max(hi, static_cast<double>(v));
  const double step = (hi - lo) / 60000.0 * 1.001; // DICOM's float: 16-bit levels over the range
  int bad = 0;
  std::string first;
  for (int k = 0; k < kCount; ++k)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x)
      {
        const double want = Expected(type, images[(static_cast<size_t>(k) * kSize + y) * kSize + x]);
        const double got = s.image->GetPixel({ { x, y, k } });
        const bool ok = rescaled ? std::fabs(got - want) <= step * 0.5 + 1e-9 * std::fabs(want) : got == want;
        if (!ok && !bad++)
          first = " (first at " + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(k) + ": " +
                  std::to_string(got) + ", expected " + std::to_string(want) + ")";
      }
  Check(bad == 0, path + " as " + type + ": " + std::to_string(bad) + " values differ" + first);
}

// Every field a stack written with info carries, as itkMedGenImageSource.h names them.
std::vector<std::pair<std::string, std::string>>
ExpectedFields(const mg_itk_synthetic_info &info, const std::string &guidance)
{
  return {
    { "MedGen", "synthetic" },
    { "MedGen_Model", info.model_file },
    { "MedGen_ModelFingerprint", info.model_fingerprint },
    { "MedGen_ModelType", info.model_type },
    { "MedGen_Sampler", info.sampler },
    { "MedGen_Steps", std::to_string(info.steps) },
    { "MedGen_Seed", std::to_string(info.seed) },
    { "MedGen_Class", info.class_name },
    { "MedGen_Guidance", guidance },
    { "MedGen_Truncation", "0" },
    { "MedGen_Weights", info.weights },
  };
}

void
CheckKeyValues(const std::string &path, const itk::MetaDataDictionary &d, const mg_itk_synthetic_info &info)
{
  for (const auto &kv : ExpectedFields(info, "2.5"))
    Check(Key(d, kv.first) == kv.second, path + ": " + kv.first + " is \"" + Key(d, kv.first) + "\", expected \"" +
                                           kv.second + "\"");
}

void
CheckNiftiHeader(const std::string &path, const std::string &type, const mg_itk_synthetic_info &info)
{
  const std::vector<unsigned char> h = NiftiHeader(path);
  if (!h.size())
    return Check(false, path + ": cannot read the header");
  const std::string descrip = HeaderText(h, 148, 80);
  const std::string want =
    std::string("MedGen SYNTHETIC ") + info.model_fingerprint + " ddim/50 seed 7 class disc guid 2.5";
  Check(descrip == want, path + ": descrip \"" + descrip + "\", expected \"" + want + "\"");
  Check(HeaderText(h, 328, 16) == "MedGenSynth", path + ": intent name \"" + HeaderText(h, 328, 16) + "\"");
  struct Code
  {
    const char *type;
    int datatype, bits;
  };
  const Code codes[] = { { "unsigned_char", 2, 8 },     { "char", 256, 8 }, { "unsigned_short", 512, 16 },
                         { "short", 4, 16 },            { "unsigned_int", 768, 32 }, { "int", 8, 32 },
                         { "float", 16, 32 },           { "double", 64, 64 } };
  for (const Code &c : codes)
    if (type == c.type)
      Check(HeaderI16(h, 70) == c.datatype && HeaderI16(h, 72) == c.bits,
            path + ": datatype " + std::to_string(HeaderI16(h, 70)) + " bitpix " + std::to_string(HeaderI16(h, 72)));
}

// The NIfTI-1 comment extension, from the decompressed bytes: extender {1,0,0,0}, esize a multiple of 16, ecode 6,
// vox_offset right after it, and every field as a "key=value" line.
void
CheckNiftiExtension(const std::string &path, const mg_itk_synthetic_info &info, const std::string &guidance)
{
  std::vector<unsigned char> bytes(1 << 16);
  gzFile g = gzopen(path.c_str(), "rb");
  const int got = g ? gzread(g, bytes.data(), static_cast<unsigned>(bytes.size())) : -1;
  if (g)
    gzclose(g);
  if (got < 360)
    return Check(false, path + ": cannot read the header and extension");
  int32_t esize, ecode;
  float vox_offset;
  std::memcpy(&esize, bytes.data() + 352, 4);
  std::memcpy(&ecode, bytes.data() + 356, 4);
  std::memcpy(&vox_offset, bytes.data() + 108, 4);
  Check(bytes[348] == 1 && bytes[349] == 0 && bytes[350] == 0 && bytes[351] == 0, path + ": extender is not 1 0 0 0");
  Check(ecode == 6 && esize >= 16 && esize % 16 == 0 && 352 + esize <= got && vox_offset == 352.0f + esize,
        path + ": extension ecode " + std::to_string(ecode) + " esize " + std::to_string(esize) + " vox_offset " +
          std::to_string(vox_offset));
  if (esize < 16 || 352 + esize > got)
    return;
  const std::string text(reinterpret_cast<const char *>(bytes.data()) + 360,
                         strnlen(reinterpret_cast<const char *>(bytes.data()) + 360, static_cast<size_t>(esize - 8)));
  for (const auto &kv : ExpectedFields(info, guidance))
    Check(text.find(kv.first + "=" + kv.second + "\n") != std::string::npos,
          path + ": the extension lacks \"" + kv.first + "=" + kv.second + "\": " + text);
}

// Fields longer than descrip's 79 characters: descrip keeps the marker and what fits, the extension every field, and
// both ITK and Logic/IO's reader still read the voxels unchanged.
void
TestLongFields(const std::string &scratch)
{
  mg_itk_synthetic_info info = TestInfo();
  info.sampler = "dpm++2m";
  info.steps = 1000;
  info.seed = 12345678901234567ull;
  info.guidance = 1.5;
  const std::vector<float> images = TestImages(false);
  for (const char *name : { "/long.nii.gz", "/long.nii" })
  {
    const std::string path = scratch + name;
    char err[1024] = "";
    if (mg_itk_write_stack(path.c_str(), images.data(), kCount, kSize, kMm, "float", &info, err, sizeof err) != MG_OK)
    {
      Check(false, path + ": " + err);
      continue;
    }
    const std::vector<unsigned char> h = NiftiHeader(path);
    Check(!h.empty() && HeaderText(h, 148, 80).rfind("MedGen SYNTHETIC fnv1a64:0123456789abcdef dpm++2m/1000", 0) == 0,
          path + ": descrip should keep the marker and what fits");
    CheckNiftiExtension(path, info, "1.5");
    CheckValues(path, ReadStack(path), "float", images);
    mg_volume v{};
    const bool read = mg_nifti_read(path.c_str(), &v, err, sizeof err) == MG_OK;
    Check(read && v.dim[0] == kSize && v.dim[1] == kSize && v.dim[2] == kCount &&
            std::equal(images.begin(), images.end(), v.data),
          path + ": Logic/IO's reader should read the voxels unchanged " + err);
    mg_volume_free(&v);
  }
}

void
CheckDicomTags(const std::string &path, const Stack &s, std::string &series)
{
  Check(s.dicts.size() == kCount, path + ": " + std::to_string(s.dicts.size()) + " files");
  std::set<std::string> instances;
  for (size_t i = 0; i < s.dicts.size(); ++i)
  {
    const itk::MetaDataDictionary &d = s.dicts[i];
    const std::string at = path + " file " + std::to_string(i) + ": ";
    Check(Key(d, "0008|0008").rfind("DERIVED\\SECONDARY\\SYNTHETIC", 0) == 0, at + "ImageType " + Key(d, "0008|0008"));
    Check(Key(d, "0008|103e").rfind("SYNTHETIC MedGen", 0) == 0, at + "SeriesDescription " + Key(d, "0008|103e"));
    const std::string comments = Key(d, "0020|4000");
    for (const char *field : { "MedGen_ModelFingerprint=fnv1a64:0123456789abcdef;", "MedGen_Seed=7;",
                               "MedGen_Sampler=ddim;", "MedGen_Steps=50;", "MedGen_Class=disc;",
                               "MedGen_Guidance=2.5;", "MedGen_ModelType=ddpm;" })
      Check(comments.find(field) != std::string::npos, at + "ImageComments lack " + field + ": " + comments);
    Check(comments.rfind("MedGen synthetic image", 0) == 0, at + "ImageComments " + comments);
    Check(Key(d, "0028|0301") == "NO", at + "BurnedInAnnotation " + Key(d, "0028|0301"));
    Check(Key(d, "0008|0060") == "OT", at + "Modality " + Key(d, "0008|0060"));
    Check(Key(d, "0008|0064") == "SYN", at + "ConversionType " + Key(d, "0008|0064"));
    Check(Key(d, "0010|0010") == "SYNTHETIC^MEDGEN", at + "PatientName " + Key(d, "0010|0010"));
    Check(Key(d, "0008|0016") == "1.2.840.10008.5.1.4.1.1.7", at + "SOPClassUID " + Key(d, "0008|0016"));
    Check(Key(d, "0020|000e") == Key(s.dicts[0], "0020|000e") && Key(d, "0020|000d") == Key(s.dicts[0], "0020|000d"),
          at + "one study and one series");
    instances.insert(Key(d, "0008|0018"));
  }
  Check(instances.size() == s.dicts.size() && !instances.count("<missing>"), path + ": one SOP Instance UID per file");
  if (!s.dicts.empty())
  {
    Check(Key(s.dicts[0], "0020|000e") != series, path + ": a new write must get a new Series Instance UID");
    series = Key(s.dicts[0], "0020|000e");
  }
}

// Every format with every pixel type; a second write of the same DICOM directory's name is refused.
void
TestFormats(const std::string &scratch)
{
  const std::vector<float> extremes = TestImages(true), smooth = TestImages(false);
  const std::vector<float> &images = extremes;
  const mg_itk_synthetic_info info = TestInfo();
  const char *types[] = { "unsigned_char", "char",  "unsigned_short", "short",
                          "unsigned_int",  "int",   "float",          "double" };
  // NRRD first: every other format's pixel positions are compared with its.
  const char *formats[] = { ".nrrd", ".nii.gz", ".nii", ".nhdr", ".mha", ".mhd", "-dicom/" };
  std::string series;
  ReadImage::Pointer nrrd_stack;
  int written = 0;
  for (const char *type : types)
    for (const char *format : formats)
    {
      // ITK's spelling with '_' and people's with a space are both taken: every other write uses the second.
      std::string spelling = type;
      for (char &c : spelling)
        c = c == '_' && written % 2 ? ' ' : c;
      ++written;
      const std::string path = scratch + "/stack-" + type + format;
      const bool rescaled = path.back() == '/' && (std::string(type) == "float" || std::string(type) == "double");
      const std::vector<float> &values = rescaled ? smooth : extremes;
      char err[1024] = "";
      if (mg_itk_write_stack(path.c_str(), values.data(), kCount, kSize, kMm, spelling.c_str(), &info, err,
                             sizeof err) != MG_OK)
      {
        Check(false, path + ": " + err);
        continue;
      }
      Check(!LeftOvers(scratch), path + ": a temporary was left behind");
      Stack s;
      try
      {
        s = ReadStack(path);
      }
      catch (const itk::ExceptionObject &e)
      {
        Check(false, path + ": cannot read back: " + e.GetDescription());
        continue;
      }
      const bool dicom = path.back() == '/';
      Check(rescaled ? (s.component == "float" || s.component == "double") : s.component == type,
            path + ": read back as " + s.component);
      CheckValues(path, s, type, values);
      if (s.image->GetLargestPossibleRegion().GetSize() == ReadImage::SizeType{ { kSize, kSize, kCount } })
        CheckPositions(path, s, nrrd_stack);
      if (mg_itk_format_of(path.c_str()) == MG_ITK_NRRD)
        nrrd_stack = s.image;
      if (mg_itk_format_of(path.c_str()) == MG_ITK_NIFTI)
      {
        CheckNiftiHeader(path, type, info);
        CheckNiftiExtension(path, info, "2.5");
      }
      else if (dicom)
        CheckDicomTags(path, s, series);
      else
        CheckKeyValues(path, s.dicts[0], info);
    }
  // A DICOM series is written into a new directory: an existing one with files is left alone.
  const std::string again = scratch + "/stack-short-dicom/";
  char err[1024] = "";
  mg_status st = mg_itk_write_stack(again.c_str(), images.data(), kCount, kSize, kMm, "short", &info, err, sizeof err);
  Check(st != MG_OK && std::strstr(err, again.c_str()) && std::strstr(err, "not an empty directory"),
        "an existing DICOM directory must be refused: " + std::string(err));
  // The series directory has the permissions of any new directory (the umask's), not a temporary's private ones.
  const mode_t mask = umask(0);
  umask(mask);
  struct stat st_dir;
  Check(stat((scratch + "/stack-short-dicom").c_str(), &st_dir) == 0 && (st_dir.st_mode & 0777) == (0777 & ~mask),
        "the DICOM directory's permissions ignore the umask");
  // An empty one is filled.
  const std::string empty = scratch + "/empty-dicom";
  itksys::SystemTools::MakeDirectory(empty);
  st = mg_itk_write_stack((empty + "/").c_str(), images.data(), kCount, kSize, kMm, "short", &info, err, sizeof err);
  Check(st == MG_OK, "an empty directory takes a DICOM series: " + std::string(err));
  // NRRD and MetaImage files are replaced whole.
  const std::string nrrd = scratch + "/stack-short.nrrd";
  std::vector<float> zeros(images.size(), 0.0f);
  st = mg_itk_write_stack(nrrd.c_str(), zeros.data(), kCount, kSize, kMm, "short", &info, err, sizeof err);
  Check(st == MG_OK && ReadStack(nrrd).image->GetPixel({ { 0, 0, 0 } }) == 0,
        "writing over a stack replaces it: " + std::string(err));
  Check(!LeftOvers(scratch), "temporaries left in " + scratch);
}

void
TestFailures(const std::string &scratch)
{
  const std::vector<float> images = TestImages(true);
  const mg_itk_synthetic_info info = TestInfo();
  struct Case
  {
    std::string path;
    const char *type;
    const char *says;
  };
  // A directory in the way: the last rename fails after ITK has written everything.
  itksys::SystemTools::MakeDirectory(scratch + "/in-the-way.nrrd");
  itksys::SystemTools::MakeDirectory(scratch + "/in-the-way.nii.gz");
  std::FILE *f = std::fopen((scratch + "/a-file").c_str(), "wb");
  if (f)
    std::fclose(f);
  const Case cases[] = {
    { scratch + "/missing/x.nrrd", "float", "temporary directory" },
    { scratch + "/missing/x.nii.gz", "float", "missing" },
    { scratch + "/missing/dicom/", "short", "temporary directory" },
    { scratch + "/x.vtk", "float", "not a volume format" },
    { scratch + "/x.nrrd", "long", "pixel type \"long\"" },
    { scratch + "/in-the-way.nrrd", "float", "cannot move" },
    { scratch + "/in-the-way.nii.gz", "float", "in-the-way.nii.gz" },
    { scratch + "/a-file/", "short", "not an empty directory" },
  };
  for (const Case &c : cases)
  {
    char err[1024] = "";
    const mg_status st =
      mg_itk_write_stack(c.path.c_str(), images.data(), kCount, kSize, kMm, c.type, &info, err, sizeof err);
    Check(st != MG_OK && std::strstr(err, c.path.c_str()) && std::strstr(err, c.says),
          c.path + ": expected a failure naming it and saying \"" + c.says + "\", got " + std::to_string(st) + " \"" +
            err + "\"");
  }
  Check(!itksys::SystemTools::FileExists(scratch + "/missing"), "a failed write created its directory");
  Check(!itksys::SystemTools::FileExists(scratch + "/x.vtk") && !itksys::SystemTools::FileExists(scratch + "/x.nrrd"),
        "a refused write left a file");
  itksys::Directory d;
  d.Load(scratch + "/in-the-way.nrrd");
  Check(d.GetNumberOfFiles() == 2, "a failed write put files into the directory in its way");
  Check(!LeftOvers(scratch), "a failed write left its temporary directory in " + scratch);
  mg_itk_synthetic_info anonymous = info;
  anonymous.model_fingerprint = nullptr;
  char err[1024] = "";
  const mg_status st =
    mg_itk_write_stack((scratch + "/y.nrrd").c_str(), images.data(), kCount, kSize, kMm, "float", &anonymous, err,
                       sizeof err);
  Check(st == MG_ERR_INVALID_ARGUMENT && std::strstr(err, "fingerprint"),
        "a stack without its model's fingerprint must be refused: " + std::string(err));
}

void
TestFingerprint(const std::string &scratch)
{
  const std::string path = scratch + "/bytes";
  std::FILE *f = std::fopen(path.c_str(), "wb");
  std::fputs("MedGen", f);
  std::fclose(f);
  // FNV-1a 64 by its definition: offset basis, then xor and multiply by the prime per byte.
  uint64_t h = 14695981039346656037ull;
  for (const char *c = "MedGen"; *c; ++c)
    h = (h ^ static_cast<unsigned char>(*c)) * 1099511628211ull;
  char want[32], got[32] = "", err[1024] = "";
  std::snprintf(want, sizeof want, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  const mg_status st = mg_itk_fingerprint(path.c_str(), got, sizeof got, err, sizeof err);
  Check(st == MG_OK && !std::strcmp(got, want), std::string("fingerprint ") + got + ", expected " + want + " " + err);
  const std::string missing = scratch + "/no-such-checkpoint";
  const mg_status missing_st = mg_itk_fingerprint(missing.c_str(), got, sizeof got, err, sizeof err);
  Check(missing_st != MG_OK && std::strstr(err, missing.c_str()),
        "a missing file's fingerprint must fail naming it: " + std::string(err));
}

// --describe PATH: format, pixel type, size, spacing, the synthetic mark, the model's fingerprint and the values,
// one per line, for the command-line test to compare.
int
Describe(const std::string &path)
{
  Stack s;
  try
  {
    s = ReadStack(path);
  }
  catch (const itk::ExceptionObject &e)
  {
    std::cerr << path << ": " << e.GetDescription() << std::endl;
    return 1;
  }
  const itk::MetaDataDictionary &d = s.dicts.empty() ? itk::MetaDataDictionary() : s.dicts[0];
  bool synthetic = false;
  std::string fingerprint;
  const mg_itk_format format = mg_itk_format_of(path.c_str());
  if (format == MG_ITK_NIFTI)
  {
    const std::vector<unsigned char> h = NiftiHeader(path);
    const std::string descrip = h.empty() ? "" : HeaderText(h, 148, 80);
    synthetic = descrip.rfind(MG_NIFTI_SYNTHETIC_DESCRIP " ", 0) == 0 && HeaderText(h, 328, 16) == "MedGenSynth";
    fingerprint = descrip.substr(std::strlen(MG_NIFTI_SYNTHETIC_DESCRIP " "), 24);
  }
  else if (format == MG_ITK_DICOM)
  {
    const std::string comments = Key(d, "0020|4000");
    const size_t at = comments.find("MedGen_ModelFingerprint=");
    synthetic = Key(d, "0008|0008").find("SYNTHETIC") != std::string::npos &&
                Key(d, "0008|103e").rfind("SYNTHETIC", 0) == 0 && Key(d, "0008|0064") == "SYN";
    fingerprint = at == std::string::npos ? "" : comments.substr(at + 24, 24);
  }
  else
  {
    synthetic = Key(d, "MedGen") == "synthetic";
    fingerprint = Key(d, "MedGen_ModelFingerprint");
  }
  const auto size = s.image->GetLargestPossibleRegion().GetSize();
  const auto spacing = s.image->GetSpacing();
  const auto origin = s.image->GetOrigin();
  const auto &direction = s.image->GetDirection();
  std::printf("pixel %s\nsize %lu %lu %lu\nspacing %g %g %g\norigin %g %g %g\ndirection", s.component.c_str(), size[0],
              size[1], size[2], spacing[0], spacing[1], spacing[2], origin[0] + 0.0, origin[1] + 0.0, origin[2] + 0.0);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      std::printf(" %g", direction(r, c) + 0.0); // + 0.0: -0 prints as 0
  std::printf("\nsynthetic %s\nfingerprint %s\nvalues", synthetic ? "yes" : "no", fingerprint.c_str());
  const double *v = s.image->GetBufferPointer();
  for (size_t i = 0; i < s.image->GetLargestPossibleRegion().GetNumberOfPixels(); ++i)
    std::printf(" %.9g", v[i]);
  std::printf("\n");
  return 0;
}

// --classifier-checkpoint FILE: the engine's classifier, one training step on two classes of 16x16 images.
int
WriteClassifier(const std::string &path)
{
  constexpr int n = 4, size = 16;
  std::vector<float> images(static_cast<size_t>(n) * size * size);
  for (size_t i = 0; i < images.size(); ++i)
    images[i] = (i / (size * size)) % 2 ? 0.5f : -0.5f;
  const int32_t labels[n] = { 0, 1, 0, 1 };
  const char *names[2] = { "dark", "bright" };
  mg_dataset data{ n, 1, size, images.data(), labels, 2, names, 0.0, 1.0 };
  char err[1024] = "";
  mg_ctx *ctx = nullptr;
  mg_context_options co{ MG_DEVICE_CPU, 1, 0 };
  mg_classifier *c = nullptr;
  mg_classifier_options o = mg_classifier_default_options();
  o.width = 4;
  o.batch = 4;
  o.steps = 1;
  const bool ok = mg_context_create(&co, &ctx, err, sizeof err) == MG_OK &&
                  mg_classifier_train(ctx, &data, &o, nullptr, nullptr, &c) == MG_OK &&
                  mg_classifier_save(c, path.c_str(), err, sizeof err) == MG_OK;
  if (!ok)
    std::cerr << path << ": " << err << (ctx ? mg_context_error(ctx) : "") << std::endl;
  mg_classifier_free(c);
  mg_context_free(ctx);
  return ok ? 0 : 1;
}

} // namespace

int
main(int argc, char *argv[])
{
  if (argc == 3 && !std::strcmp(argv[1], "--describe"))
    return Describe(argv[2]);
  if (argc == 3 && !std::strcmp(argv[1], "--classifier-checkpoint"))
    return WriteClassifier(argv[2]);
  if (argc != 2)
  {
    std::cerr << "usage: mgItkWriteTest SCRATCH_DIR | --describe STACK | --classifier-checkpoint FILE" << std::endl;
    return 2;
  }
  const std::string scratch = argv[1];
  itksys::SystemTools::RemoveADirectory(scratch);
  itksys::SystemTools::MakeDirectory(scratch);
  TestFormats(scratch);
  TestLongFields(scratch);
  TestFailures(scratch);
  TestFingerprint(scratch);
  return medgen_test::Finish();
}
