// medgen::SliceSet: geometry (permuted/flipped direction matrices give the same slices, anisotropic spacing pads
// instead of stretching), refusals naming the file, and real volumes (CT keeps Hounsfield units, a brain MRI).
// Usage: medgenVolumeSlicesTest <scratch dir> <shared data dir> <mricron templates dir>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkGDCMImageIO.h"
#include "itkImageFileWriter.h"
#include "itkImageSeriesWriter.h"
#include "itkMetaDataObject.h"
#include "itkRGBPixel.h"
#include "itksys/SystemTools.hxx"
#include "medgenVolumeSlices.h"

static int failures = 0;
#define CHECK(cond, ...)                                                                                          \
  do                                                                                                              \
  {                                                                                                               \
    if (!(cond))                                                                                                  \
    {                                                                                                             \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                 \
      std::printf(__VA_ARGS__);                                                                                   \
      std::printf("\n");                                                                                          \
      ++failures;                                                                                                 \
    }                                                                                                             \
  } while (0)

using VolumeType = itk::Image<float, 3>;

template <typename TImage>
static void
Write(const typename TImage::Pointer &image, const std::string &path)
{
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetInput(image);
  writer->SetFileName(path);
  writer->Update();
}

static VolumeType::Pointer
NewVolume(int nx, int ny, int nz)
{
  auto image = VolumeType::New();
  VolumeType::RegionType region;
  region.SetSize({ { static_cast<itk::SizeValueType>(nx), static_cast<itk::SizeValueType>(ny),
                     static_cast<itk::SizeValueType>(nz) } });
  image->SetRegions(region);
  image->Allocate();
  image->FillBuffer(0.0f);
  return image;
}

// An asymmetric pattern so that any wrong flip or permutation changes the slices.
static float
Pattern(int x, int y, int z)
{
  return static_cast<float>(100 + 3 * x + 7 * y * y % 50 + 11 * z + ((x * y + z) % 5 == 0 ? 40 : 0));
}

// The same anatomy stored twice: A with the identity direction; B with array axes (S reversed, L, P reversed).
static void
TestPermutedDirection(const std::string &dir)
{
  const int nx = 12, ny = 9, nz = 7;
  auto a = NewVolume(nx, ny, nz);
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x)
        a->SetPixel({ { x, y, z } }, Pattern(x, y, z));
  auto b = NewVolume(nz, nx, ny);
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x)
        b->SetPixel({ { nz - 1 - z, x, ny - 1 - y } }, Pattern(x, y, z));
  VolumeType::DirectionType d;
  d.Fill(0.0);
  d(2, 0) = -1.0; // array axis 0 runs inferior
  d(0, 1) = 1.0;  // array axis 1 runs left
  d(1, 2) = -1.0; // array axis 2 runs anterior
  b->SetDirection(d);
  VolumeType::PointType origin;
  origin[0] = 0.0, origin[1] = ny - 1.0, origin[2] = nz - 1.0;
  b->SetOrigin(origin);
  // Geometry check of the test itself: the same physical point holds the same value.
  VolumeType::PointType p;
  b->TransformIndexToPhysicalPoint({ { 2, 5, 3 } }, p);
  VolumeType::IndexType ia;
  a->TransformPhysicalPointToIndex(p, ia);
  CHECK(a->GetPixel(ia) == b->GetPixel({ { 2, 5, 3 } }), "test geometry is inconsistent");

  Write<VolumeType>(a, dir + "/identity.nrrd");
  Write<VolumeType>(b, dir + "/permuted.mha");
  for (auto axis : { medgen::SliceAxis::Axial, medgen::SliceAxis::Coronal, medgen::SliceAxis::Sagittal })
  {
    medgen::SliceOptions options;
    options.axis = axis;
    options.size = 16;
    options.min_foreground = 0.0;
    medgen::SliceSet sa(options), sb(options);
    const int ka = sa.AddVolume(dir + "/identity.nrrd");
    const int kb = sb.AddVolume(dir + "/permuted.mha");
    const int expected = axis == medgen::SliceAxis::Axial ? nz : axis == medgen::SliceAxis::Coronal ? ny : nx;
    CHECK(ka == expected && kb == expected, "axis %d: %d and %d slices, want %d", static_cast<int>(axis), ka, kb,
          expected);
    double worst = 0.0;
    for (int i = 0; i < std::min(ka, kb); ++i)
      for (int j = 0; j < 16 * 16; ++j)
        worst = std::max(worst, static_cast<double>(std::fabs(sa.RawSlice(i)[j] - sb.RawSlice(i)[j])));
    CHECK(worst < 1e-3, "axis %d: permuted volume differs by %g", static_cast<int>(axis), worst);
  }

  // The axial convention itself, on A (identity: columns +x = left, rows +y = posterior, slices +z = superior).
  // A 12 x 9 slice in 12 x 12 pixels (1 mm per pixel): rows 1.5 .. 10.5 hold data, column c is voxel x = c.
  medgen::SliceOptions options;
  options.size = 12;
  options.min_foreground = 0.0;
  medgen::SliceSet s(options);
  s.AddVolume(dir + "/identity.nrrd", "left");
  CHECK(s.Source(0).slice_index == 0 && s.Source(nz - 1).slice_index == nz - 1, "slice order inferior->superior");
  CHECK(s.Source(0).label == 0 && s.ClassNames().size() == 1 && s.ClassNames()[0] == "left", "class kept");
  const float *slice = s.RawSlice(2);
  // Output row r centre sits at y = r + 0.5 - 6 mm from the centre, voxel v = 4 + y.
  const double v = 4.0 + (5 + 0.5 - 6.0);
  const double expect = (1 - (v - 3)) * Pattern(7, 3, 2) + (v - 3) * Pattern(7, 4, 2);
  CHECK(std::fabs(slice[5 * 12 + 7] - expect) < 1e-3, "axial pixel (5, 7) = %g, want %g", slice[5 * 12 + 7], expect);
  CHECK(!s.InField(2)[0] && s.InField(2)[6 * 12], "first row padded, middle rows in field");
}

// 0.5 x 1 mm pixels, 160 x 40 voxels = 80 x 40 mm: a 15 mm disk must stay round in 64 x 64 pixels of 1.25 mm.
static void
TestAnisotropicPadding(const std::string &dir)
{
  const int nx = 160, ny = 40, nz = 4;
  auto image = NewVolume(nx, ny, nz);
  VolumeType::SpacingType spacing;
  spacing[0] = 0.5, spacing[1] = 1.0, spacing[2] = 3.0;
  image->SetSpacing(spacing);
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x)
      {
        const double px = (x - 0.5 * (nx - 1)) * 0.5, py = (y - 0.5 * (ny - 1)) * 1.0;
        image->SetPixel({ { x, y, z } }, px * px + py * py <= 15.0 * 15.0 ? 1.0f : 0.0f);
      }
  Write<VolumeType>(image, dir + "/disk.nrrd");
  medgen::SliceOptions options;
  options.size = 64;
  options.normalization = medgen::Normalization::Window;
  options.window_low = 0.0, options.window_high = 1.0;
  medgen::SliceSet s(options);
  CHECK(s.AddVolume(dir + "/disk.nrrd") == nz, "all disk slices kept");
  const mg_dataset &data = s.Dataset();
  CHECK(data.norm_offset == 0.5 && data.norm_scale == 0.5, "window offset/scale %g %g", data.norm_offset,
        data.norm_scale);
  int rmin = 64, rmax = -1, cmin = 64, cmax = -1;
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c)
      if (data.images[r * 64 + c] > 0.0f)
        rmin = std::min(rmin, r), rmax = std::max(rmax, r), cmin = std::min(cmin, c), cmax = std::max(cmax, c);
  const int height = rmax - rmin + 1, width = cmax - cmin + 1;
  // 30 mm / 1.25 mm = 24 pixels each way.
  CHECK(std::abs(height - 24) <= 1 && std::abs(width - 24) <= 1, "disk is %d x %d pixels, want 24 x 24", height,
        width);
  // 40 mm high in 80 mm: rows 0..15 and 48..63 are padding with the background value (-1).
  bool padded = true;
  for (int c = 0; c < 64; ++c)
    padded = padded && !s.InField(0)[c] && !s.InField(0)[63 * 64 + c] && s.InField(0)[32 * 64 + c] &&
             data.images[c] == -1.0f && data.images[63 * 64 + c] == -1.0f;
  CHECK(padded && !s.InField(0)[15 * 64] && s.InField(0)[16 * 64] && s.InField(0)[47 * 64] && !s.InField(0)[48 * 64],
        "padding rows");
}

// Two volumes in one set: slices, labels and provenance follow the order added; normalization spans both.
static void
TestTwoVolumes(const std::string &dir)
{
  medgen::SliceOptions options;
  options.size = 16;
  options.min_foreground = 0.0;
  options.low_percentile = 0.0, options.high_percentile = 100.0;
  medgen::SliceSet s(options);
  const int first = s.AddVolume(dir + "/identity.nrrd", "cube");
  const int second = s.AddVolume(dir + "/disk.nrrd", "disk");
  const mg_dataset &d = s.Dataset();
  CHECK(d.count == first + second && d.num_classes == 2, "two volumes: %d slices, %d classes", d.count,
        d.num_classes);
  CHECK(d.labels[0] == 0 && d.labels[first] == 1 && std::string(d.class_names[1]) == "disk" && s.Source(first).file == dir + "/disk.nrrd" &&
          s.Source(first - 1).file == dir + "/identity.nrrd",
        "labels and provenance in order");
  double low = 1e30, high = -1e30;
  for (int i = 0; i < d.count; ++i)
    for (int j = 0; j < 16 * 16; ++j)
      if (s.InField(i)[j])
      {
        const double value = s.RawSlice(i)[j];
        low = std::min(low, value), high = std::max(high, value);
      }
  CHECK(low == 0.0 && high > 200.0, "raw range %g..%g", low, high);
  CHECK(std::fabs(-d.norm_scale + d.norm_offset - low) < 1e-6 && std::fabs(d.norm_scale + d.norm_offset - high) < 1e-6,
        "normalization spans both volumes: %g..%g, want %g..%g", d.norm_offset - d.norm_scale,
        d.norm_offset + d.norm_scale, low, high);
}

static void
ExpectRefused(const std::string &path, const char *what)
{
  medgen::SliceSet s(medgen::SliceOptions{});
  try
  {
    s.AddVolume(path);
    CHECK(false, "%s accepted", what);
  }
  catch (const medgen::VolumeError &e)
  {
    const std::string message = e.GetDescription();
    CHECK(message.find(path) != std::string::npos && message.find(what) != std::string::npos,
          "message \"%s\" should name the file and say '%s'", message.c_str(), what);
  }
}

static void
TestRefusals(const std::string &dir)
{
  auto constant = NewVolume(8, 8, 8);
  constant->FillBuffer(42.0f);
  Write<VolumeType>(constant, dir + "/constant.nrrd");
  ExpectRefused(dir + "/constant.nrrd", "constant");

  auto nan = NewVolume(8, 8, 8);
  for (int i = 0; i < 512; ++i)
    nan->GetBufferPointer()[i] = static_cast<float>(i);
  nan->SetPixel({ { 3, 4, 5 } }, std::nanf(""));
  Write<VolumeType>(nan, dir + "/nan.mha");
  ExpectRefused(dir + "/nan.mha", "NaN");

  using RGBType = itk::Image<itk::RGBPixel<unsigned char>, 3>;
  auto rgb = RGBType::New();
  RGBType::RegionType rgb_region;
  rgb_region.SetSize({ { 8, 8, 4 } });
  rgb->SetRegions(rgb_region);
  rgb->Allocate();
  Write<RGBType>(rgb, dir + "/rgb.mha");
  ExpectRefused(dir + "/rgb.mha", "3 components");

  using Image4D = itk::Image<float, 4>;
  auto four = Image4D::New();
  Image4D::RegionType four_region;
  four_region.SetSize({ { 6, 6, 6, 2 } });
  four->SetRegions(four_region);
  four->Allocate();
  Write<Image4D>(four, dir + "/four.nrrd");
  ExpectRefused(dir + "/four.nrrd", "4D");

  ExpectRefused(dir + "/missing.nii.gz", "does not exist");
}

// A DICOM series directory (written here slice by slice with its image plane tags) gives the same slices as the
// same volume in NRRD.
static void
TestDicomSeries(const std::string &dir)
{
  using ShortVolume = itk::Image<short, 3>;
  const int nx = 20, ny = 16, nz = 6;
  auto volume = ShortVolume::New();
  ShortVolume::RegionType region;
  region.SetSize({ { nx, ny, nz } });
  volume->SetRegions(region);
  volume->Allocate();
  ShortVolume::SpacingType spacing;
  spacing[0] = 0.8, spacing[1] = 0.8, spacing[2] = 2.5;
  volume->SetSpacing(spacing);
  ShortVolume::PointType origin;
  origin[0] = -8.0, origin[1] = -6.0, origin[2] = 10.0;
  volume->SetOrigin(origin);
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x)
        volume->SetPixel({ { x, y, z } }, static_cast<short>(Pattern(x, y, z)));
  Write<ShortVolume>(volume, dir + "/dicom_reference.nrrd");

  const std::string series = dir + "/dicom";
  itksys::SystemTools::RemoveADirectory(series);
  itksys::SystemTools::MakeDirectory(series);
  std::vector<itk::MetaDataDictionary> dictionaries(nz);
  std::vector<itk::MetaDataDictionary *> dictionary_pointers;
  std::vector<std::string> files;
  for (int z = 0; z < nz; ++z)
  {
    itk::MetaDataDictionary &d = dictionaries[z];
    auto set = [&d](const char *tag, const std::string &value) {
      itk::EncapsulateMetaData<std::string>(d, tag, value);
    };
    set("0008|0016", "1.2.840.10008.5.1.4.1.1.2"); // CT Image Storage: keeps the image plane module
    set("0008|0060", "CT");
    set("0028|0004", "MONOCHROME2");
    set("0020|000d", "1.2.826.0.1.3680043.2.1125.1.42.1");
    set("0020|000e", "1.2.826.0.1.3680043.2.1125.1.42.2");
    set("0008|0018", "1.2.826.0.1.3680043.2.1125.1.42.3." + std::to_string(z + 1));
    set("0020|0013", std::to_string(z + 1));
    set("0020|0037", "1\\0\\0\\0\\1\\0");
    set("0020|0032", "-8\\-6\\" + std::to_string(10.0 + 2.5 * z));
    set("0028|0030", "0.8\\0.8");
    set("0018|0050", "2.5");
    dictionary_pointers.push_back(&d);
    char name[32];
    std::snprintf(name, sizeof name, "/slice%03d.dcm", z);
    files.push_back(series + name);
  }
  auto io = itk::GDCMImageIO::New();
  io->KeepOriginalUIDOn();
  auto writer = itk::ImageSeriesWriter<ShortVolume, itk::Image<short, 2>>::New();
  writer->SetInput(volume);
  writer->SetImageIO(io);
  writer->SetFileNames(files);
  writer->SetMetaDataDictionaryArray(&dictionary_pointers);
  writer->Update();

  for (auto axis : { medgen::SliceAxis::Axial, medgen::SliceAxis::Coronal })
  {
    medgen::SliceOptions options;
    options.axis = axis;
    options.size = 24;
    options.min_foreground = 0.0;
    medgen::SliceSet from_dicom(options), from_nrrd(options);
    const int kd = from_dicom.AddVolume(series);
    const int kn = from_nrrd.AddVolume(dir + "/dicom_reference.nrrd");
    const int expected = axis == medgen::SliceAxis::Axial ? nz : ny;
    CHECK(kd == expected && kn == expected, "DICOM series: %d and %d slices, want %d", kd, kn, expected);
    double worst = 0.0;
    for (int i = 0; i < std::min(kd, kn); ++i)
      for (int j = 0; j < 24 * 24; ++j)
        worst = std::max(worst, std::fabs(static_cast<double>(from_dicom.RawSlice(i)[j]) - from_nrrd.RawSlice(i)[j]));
    CHECK(worst < 1e-3, "DICOM series differs from NRRD by %g (axis %d)", worst, static_cast<int>(axis));
  }
  ExpectRefused(dir, "without a DICOM series");
}

// The reference percentile, written independently of SliceSet::Percentile: sort, interpolate linearly.
static double
SortedPercentile(std::vector<float> values, double p)
{
  std::sort(values.begin(), values.end());
  const double pos = p / 100.0 * (values.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, values.size() - 1);
  return values[i] + (pos - i) * (values[j] - values[i]);
}

static void
TestCT(const std::string &path)
{
  if (!itksys::SystemTools::FileExists(path))
  {
    std::printf("skip CT: %s is absent\n", path.c_str());
    return;
  }
  medgen::SliceOptions options;
  options.size = 64;
  options.normalization = medgen::Normalization::Window;
  medgen::SliceSet window(options);
  const int kept = window.AddVolume(path, "ct");
  const mg_dataset &w = window.Dataset();
  CHECK(w.norm_offset == 0.0 && w.norm_scale == 1000.0, "CT window: offset %g scale %g", w.norm_offset,
        w.norm_scale);
  CHECK(w.count == kept && w.num_classes == 1 && w.labels[0] == 0 && window.PixelType() == "short", "CT class and pixel type %s", window.PixelType().c_str());
  std::printf("CT: %d axial slices kept, first index %d, last %d\n", kept, window.Source(0).slice_index,
              window.Source(kept - 1).slice_index);
  // HU survive: every in-field pixel inside the window maps back to its raw value.
  std::vector<float> raw;
  double worst = 0.0, raw_min = 1e30, raw_max = -1e30;
  for (int i = 0; i < kept; ++i)
    for (int j = 0; j < 64 * 64; ++j)
      if (window.InField(i)[j])
      {
        const float hu = window.RawSlice(i)[j];
        raw.push_back(hu);
        raw_min = std::min(raw_min, static_cast<double>(hu)), raw_max = std::max(raw_max, static_cast<double>(hu));
        const double back = w.images[static_cast<size_t>(i) * 64 * 64 + j] * w.norm_scale + w.norm_offset;
        if (hu > -1000.0f && hu < 1000.0f)
          worst = std::max(worst, std::fabs(back - hu));
      }
  CHECK(worst < 0.1, "CT window round trip off by %g HU", worst);
  CHECK(raw_min < -900.0 && raw_min > -3100.0 && raw_max > 1000.0 && raw_max < 4000.0, "CT range %g..%g is not HU",
        raw_min, raw_max);

  options.normalization = medgen::Normalization::Percentiles;
  medgen::SliceSet robust(options);
  robust.AddVolume(path);
  const mg_dataset &r = robust.Dataset();
  const double p_low = SortedPercentile(raw, 0.5), p_high = SortedPercentile(raw, 99.5);
  const double back_low = -1.0 * r.norm_scale + r.norm_offset, back_high = r.norm_scale + r.norm_offset;
  CHECK(std::fabs(back_low - p_low) < 1.0 && std::fabs(back_high - p_high) < 1.0,
        "CT percentiles map back to %g..%g, want %g..%g", back_low, back_high, p_low, p_high);

  // Background rule: every skipped slice has under 5% of its voxels above the threshold; at least one is skipped
  // (head CTs have air above and below the head) and at least half the slices are kept.
  options.min_foreground = 0.0;
  medgen::SliceSet all(options);
  const int total = all.AddVolume(path);
  CHECK(kept < total && kept > total / 2, "CT kept %d of %d slices", kept, total);
  std::printf("CT: %d of %d slices kept, HU %g..%g, percentiles %g..%g\n", kept, total, raw_min, raw_max, p_low,
              p_high);
}

static void
TestMRI(const std::string &path)
{
  if (!itksys::SystemTools::FileExists(path))
  {
    std::printf("skip MRI: %s is absent (Debian package mricron-data)\n", path.c_str());
    return;
  }
  for (auto axis : { medgen::SliceAxis::Axial, medgen::SliceAxis::Coronal, medgen::SliceAxis::Sagittal })
  {
    medgen::SliceOptions options;
    options.axis = axis;
    options.size = 32;
    medgen::SliceSet s(options);
    const int kept = s.AddVolume(path);
    const mg_dataset &d = s.Dataset();
    float lo = 1.0f, hi = -1.0f;
    for (size_t i = 0; i < static_cast<size_t>(d.count) * 32 * 32; ++i)
      lo = std::min(lo, d.images[i]), hi = std::max(hi, d.images[i]);
    CHECK(kept > 40 && lo == -1.0f && hi == 1.0f && d.norm_scale > 0.0, "MRI axis %d: %d slices, range %g..%g",
          static_cast<int>(axis), kept, lo, hi);
    std::printf("MRI axis %d: %d slices, offset %g scale %g\n", static_cast<int>(axis), kept, d.norm_offset,
                d.norm_scale);
  }
}

int
main(int argc, char *argv[])
{
  if (argc < 4)
  {
    std::printf("usage: %s <scratch dir> <shared data dir> <mricron templates dir>\n", argv[0]);
    return 1;
  }
  const std::string scratch = argv[1];
  itksys::SystemTools::MakeDirectory(scratch);
  try
  {
    TestPermutedDirection(scratch);
    TestAnisotropicPadding(scratch);
    TestTwoVolumes(scratch);
    TestRefusals(scratch);
    TestDicomSeries(scratch);
    TestCT(std::string(argv[2]) + "/volumes/cranium_ct.nii.gz");
    TestMRI(std::string(argv[3]) + "/ch2.nii.gz");
  }
  catch (const itk::ExceptionObject &e)
  {
    std::printf("FAIL: unexpected exception: %s\n", e.GetDescription());
    return 1;
  }
  std::printf(failures ? "%d failures\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
