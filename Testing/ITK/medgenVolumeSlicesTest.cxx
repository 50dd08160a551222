// medgen::SliceSet: geometry (permuted/flipped direction matrices give the same slices, anisotropic spacing pads
// instead of stretching), refusals naming the file, label maps (classes, renumbering, refusals, mixing), and real
// volumes (CT keeps Hounsfield units, a brain MRI).
// Usage: medgenVolumeSlicesTest <scratch dir> <shared data dir> <mricron templates dir>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkImageFileWriter.h"
#include "itkRGBPixel.h"
#include "itkTestCheck.h"
#include "itksys/SystemTools.hxx"
#include "medgenTestVolumes.h"
#include "medgenVolumeSlices.h"

#include <zlib.h>

using medgen_test::Check;
using medgen_test::Format;

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

// The same anatomy, value(x, y, z), stored twice: a with the identity direction; b with array axes (S reversed,
// L, P reversed).
template <typename TValue>
static void
StoreTwice(int nx, int ny, int nz, TValue value, VolumeType::Pointer &a, VolumeType::Pointer &b)
{
  a = NewVolume(nx, ny, nz);
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x)
        a->SetPixel({ { x, y, z } }, value(x, y, z));
  b = NewVolume(nz, nx, ny);
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < ny; ++y)
      for (int x = 0; x < nx; ++x)
        b->SetPixel({ { nz - 1 - z, x, ny - 1 - y } }, value(x, y, z));
  VolumeType::DirectionType d;
  d.Fill(0.0);
  d(2, 0) = -1.0; // array axis 0 runs inferior
  d(0, 1) = 1.0;  // array axis 1 runs left
  d(1, 2) = -1.0; // array axis 2 runs anterior
  b->SetDirection(d);
  VolumeType::PointType origin;
  origin[0] = 0.0, origin[1] = ny - 1.0, origin[2] = nz - 1.0;
  b->SetOrigin(origin);
}

static void
TestPermutedDirection(const std::string &dir)
{
  const int nx = 12, ny = 9, nz = 7;
  VolumeType::Pointer a, b;
  StoreTwice(nx, ny, nz, Pattern, a, b);
  // Geometry check of the test itself: the same physical point holds the same value.
  VolumeType::PointType p;
  b->TransformIndexToPhysicalPoint({ { 2, 5, 3 } }, p);
  VolumeType::IndexType ia;
  a->TransformPhysicalPointToIndex(p, ia);
  Check(a->GetPixel(ia) == b->GetPixel({ { 2, 5, 3 } }), "test geometry is inconsistent");

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
    Check(ka == expected && kb == expected,
          Format("axis %d: %d and %d slices, want %d", static_cast<int>(axis), ka, kb, expected));
    double worst = 0.0;
    for (int i = 0; i < std::min(ka, kb); ++i)
      for (int j = 0; j < 16 * 16; ++j)
        worst = std::max(worst, static_cast<double>(std::fabs(sa.RawSlice(i)[j] - sb.RawSlice(i)[j])));
    Check(worst < 1e-3, Format("axis %d: permuted volume differs by %g", static_cast<int>(axis), worst));
  }

  // The axial convention itself, on A (identity: columns +x = left, rows +y = posterior, slices +z = superior).
  // A 12 x 9 slice in 12 x 12 pixels (1 mm per pixel): rows 1.5 .. 10.5 hold data, column c is voxel x = c.
  medgen::SliceOptions options;
  options.size = 12;
  options.min_foreground = 0.0;
  medgen::SliceSet s(options);
  s.AddVolume(dir + "/identity.nrrd", "left");
  Check(s.Source(0).slice_index == 0 && s.Source(nz - 1).slice_index == nz - 1, "slice order inferior->superior");
  Check(s.Source(0).label == 0 && s.ClassNames().size() == 1 && s.ClassNames()[0] == "left", "class kept");
  const float *slice = s.RawSlice(2);
  // Output row r centre sits at y = r + 0.5 - 6 mm from the centre, voxel v = 4 + y.
  const double v = 4.0 + (5 + 0.5 - 6.0);
  const double expect = (1 - (v - 3)) * Pattern(7, 3, 2) + (v - 3) * Pattern(7, 4, 2);
  Check(std::fabs(slice[5 * 12 + 7] - expect) < 1e-3,
        Format("axial pixel (5, 7) = %g, want %g", slice[5 * 12 + 7], expect));
  Check(!s.InField(2)[0] && s.InField(2)[6 * 12], "first row padded, middle rows in field");
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
  Check(s.AddVolume(dir + "/disk.nrrd") == nz, "all disk slices kept");
  const mg_dataset &data = s.Dataset();
  Check(data.norm_offset == 0.5 && data.norm_scale == 0.5,
        Format("window offset/scale %g %g", data.norm_offset, data.norm_scale));
  int rmin = 64, rmax = -1, cmin = 64, cmax = -1;
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c)
      if (data.images[r * 64 + c] > 0.0f)
        rmin = std::min(rmin, r), rmax = std::max(rmax, r), cmin = std::min(cmin, c), cmax = std::max(cmax, c);
  const int height = rmax - rmin + 1, width = cmax - cmin + 1;
  // 30 mm / 1.25 mm = 24 pixels each way.
  Check(std::abs(height - 24) <= 1 && std::abs(width - 24) <= 1,
        Format("disk is %d x %d pixels, want 24 x 24", height, width));
  // 40 mm high in 80 mm: rows 0..15 and 48..63 are padding with the background value (-1).
  bool padded = true;
  for (int c = 0; c < 64; ++c)
    padded = padded && !s.InField(0)[c] && !s.InField(0)[63 * 64 + c] && s.InField(0)[32 * 64 + c] &&
             data.images[c] == -1.0f && data.images[63 * 64 + c] == -1.0f;
  Check(padded && !s.InField(0)[15 * 64] && s.InField(0)[16 * 64] && s.InField(0)[47 * 64] && !s.InField(0)[48 * 64],
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
  Check(d.count == first + second && d.num_classes == 2,
        Format("two volumes: %d slices, %d classes", d.count, d.num_classes));
  Check(d.labels[0] == 0 && d.labels[first] == 1 && std::string(d.class_names[1]) == "disk" &&
          s.Source(first).file == dir + "/disk.nrrd" && s.Source(first - 1).file == dir + "/identity.nrrd",
        "labels and provenance in order");
  double low = 1e30, high = -1e30;
  for (int i = 0; i < d.count; ++i)
    for (int j = 0; j < 16 * 16; ++j)
      if (s.InField(i)[j])
      {
        const double value = s.RawSlice(i)[j];
        low = std::min(low, value), high = std::max(high, value);
      }
  Check(low == 0.0 && high > 200.0, Format("raw range %g..%g", low, high));
  Check(std::fabs(-d.norm_scale + d.norm_offset - low) < 1e-6 && std::fabs(d.norm_scale + d.norm_offset - high) < 1e-6,
        Format("normalization spans both volumes: %g..%g, want %g..%g", d.norm_offset - d.norm_scale,
               d.norm_offset + d.norm_scale, low, high));
}

static void
ExpectRefused(const std::string &path, const char *what)
{
  medgen::SliceSet s(medgen::SliceOptions{});
  try
  {
    s.AddVolume(path);
    Check(false, Format("%s accepted", what));
  }
  catch (const medgen::VolumeError &e)
  {
    const std::string message = e.GetDescription();
    Check(message.find(path) != std::string::npos && message.find(what) != std::string::npos,
          Format("message \"%s\" should name the file and say '%s'", message.c_str(), what));
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

// The first keep bytes of from, with the byte at flip inverted, as a new file to (gzip-compressed when compress).
static void
CopyDamaged(const std::string &from, const std::string &to, size_t keep, size_t flip = std::string::npos,
            bool compress = false)
{
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes.resize(std::min(keep, bytes.size()));
  if (flip < bytes.size())
    bytes[flip] = static_cast<char>(~bytes[flip]);
  if (compress)
  {
    gzFile gz = gzopen(to.c_str(), "wb");
    Check(gz && gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()) &&
            gzclose(gz) == Z_OK,
          "cannot write " + to);
    return;
  }
  std::ofstream(to, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Damaged NIfTI files are refused, not read as garbage: a .nii.gz cut in its voxels, cut a few bytes after the gzip
// header or with a wrong CRC (ITK 5.2 reads the first two without a word), and a .nii cut in its voxels, plain or
// gzip-compressed whole.
static void
TestTruncated(const std::string &dir)
{
  auto noise = NewVolume(32, 32, 16); // incompressible values, so that the cut falls well inside the voxels
  uint32_t state = 12345;
  for (size_t i = 0; i < 32 * 32 * 16; ++i)
    noise->GetBufferPointer()[i] = static_cast<float>((state = state * 1664525u + 1013904223u) >> 8);
  Write<VolumeType>(noise, dir + "/noise.nii.gz");
  Write<VolumeType>(noise, dir + "/noise.nii");
  const size_t gz_bytes = itksys::SystemTools::FileLength(dir + "/noise.nii.gz");
  const size_t raw_bytes = itksys::SystemTools::FileLength(dir + "/noise.nii");
  medgen::SliceSet whole(medgen::SliceOptions{});
  whole.AddVolume(dir + "/noise.nii.gz"); // the intact files are read
  whole.AddVolume(dir + "/noise.nii");
  CopyDamaged(dir + "/noise.nii.gz", dir + "/cut-voxels.nii.gz", gz_bytes / 2);
  ExpectRefused(dir + "/cut-voxels.nii.gz", "truncated or damaged compressed data");
  CopyDamaged(dir + "/noise.nii.gz", dir + "/cut-early.nii.gz", 20);
  ExpectRefused(dir + "/cut-early.nii.gz", "truncated or damaged compressed data");
  CopyDamaged(dir + "/noise.nii.gz", dir + "/bad-crc.nii.gz", gz_bytes, gz_bytes - 8);
  ExpectRefused(dir + "/bad-crc.nii.gz", "truncated or damaged compressed data");
  CopyDamaged(dir + "/noise.nii", dir + "/cut-voxels.nii", raw_bytes / 2);
  ExpectRefused(dir + "/cut-voxels.nii", "truncated: the 32x32x16 voxels need");
  CopyDamaged(dir + "/noise.nii", dir + "/cut-then-compressed.nii.gz", raw_bytes / 2, std::string::npos, true);
  ExpectRefused(dir + "/cut-then-compressed.nii.gz", "truncated: the 32x32x16 voxels need");

  // A scaled int16 file (scl_inter -1024, as CT often comes): ITK reports it as float, but the file holds 2 bytes a
  // voxel; whole it is read, in the scaled units, and cut it is refused.
  using ShortVolume = itk::Image<short, 3>;
  auto ct = ShortVolume::New();
  ct->SetRegions(noise->GetLargestPossibleRegion());
  ct->Allocate();
  for (size_t i = 0; i < 32 * 32 * 16; ++i)
    ct->GetBufferPointer()[i] = static_cast<short>(static_cast<uint32_t>(noise->GetBufferPointer()[i]) % 2000);
  Write<ShortVolume>(ct, dir + "/scaled.nii");
  std::string bytes;
  {
    std::ifstream in(dir + "/scaled.nii", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const float slope = 1.0f, intercept = -1024.0f; // scl_slope at byte 112, scl_inter at 116 (this machine's order)
  std::memcpy(&bytes[112], &slope, 4);
  std::memcpy(&bytes[116], &intercept, 4);
  std::ofstream(dir + "/scaled.nii", std::ios::binary) << bytes;
  medgen::SliceSet scaled(medgen::SliceOptions{});
  std::string error;
  try
  {
    scaled.AddVolume(dir + "/scaled.nii");
  }
  catch (const itk::ExceptionObject &e)
  {
    error = e.GetDescription();
  }
  Check(error.empty(), "a whole scaled int16 NIfTI is read: " + error);
  std::ofstream(dir + "/scaled-cut.nii", std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  ExpectRefused(dir + "/scaled-cut.nii", "truncated: the 32x32x16 voxels need");
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
  medgen_test::WriteDicomSeries(volume, series, "42");

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
    Check(kd == expected && kn == expected, Format("DICOM series: %d and %d slices, want %d", kd, kn, expected));
    double worst = 0.0;
    for (int i = 0; i < std::min(kd, kn); ++i)
      for (int j = 0; j < 24 * 24; ++j)
        worst = std::max(worst, std::fabs(static_cast<double>(from_dicom.RawSlice(i)[j]) - from_nrrd.RawSlice(i)[j]));
    Check(worst < 1e-3, Format("DICOM series differs from NRRD by %g (axis %d)", worst, static_cast<int>(axis)));
  }
  ExpectRefused(dir, "without a DICOM series");
}

// A zero label map with volume's size and geometry.
static VolumeType::Pointer
LabelMapLike(const VolumeType *volume)
{
  auto map = VolumeType::New();
  map->CopyInformation(volume);
  map->SetRegions(volume->GetLargestPossibleRegion());
  map->Allocate();
  map->FillBuffer(0.0f);
  return map;
}

// Labels value on count voxels of axial slice z, from voxel first on in storage order.
static void
Paint(VolumeType *map, int z, float value, int count, int first = 0)
{
  const int nx = static_cast<int>(map->GetLargestPossibleRegion().GetSize()[0]);
  for (int i = first; i < first + count; ++i)
    map->SetPixel({ { i % nx, i / nx, z } }, value);
}

static std::vector<std::string>
SliceClasses(const medgen::SliceSet &s)
{
  std::vector<std::string> names;
  for (int i = 0; i < s.Count(); ++i)
    names.push_back(s.Source(i).label < 0 ? "?" : s.ClassNames()[s.Source(i).label]);
  return names;
}

static std::string
Joined(const std::vector<std::string> &names)
{
  std::string text;
  for (const std::string &name : names)
    text += (text.empty() ? "" : ",") + name;
  return text;
}

// Label maps: the highest label covering label_min_voxels voxels (10 by default) of a slice is its class; classes
// are numbered by label value over every volume added, so a later volume renumbers the earlier slices.
static void
TestLabelMapClasses()
{
  medgen::SliceOptions options;
  options.size = 16;
  options.min_foreground = 0.0;
  auto volume = NewVolume(12, 10, 8);
  for (int z = 0; z < 8; ++z)
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 12; ++x)
        volume->SetPixel({ { x, y, z } }, Pattern(x, y, z));
  auto map = LabelMapLike(volume);
  Paint(map, 1, 2, 10);                      // exactly label_min_voxels: label 2
  Paint(map, 2, 2, 9);                       // one short: background
  Paint(map, 3, 2, 30), Paint(map, 3, 7, 12, 40); // both count: the higher, 7
  Paint(map, 4, 7, 9), Paint(map, 4, 3, 15, 40);  // 7 too small: 3
  for (int z = 5; z < 8; ++z)
    Paint(map, z, 3, 20, 3 * z);
  medgen::SliceSet s(options);
  Check(s.AddImage(volume, "first", "float", "", map) == 8, "all 8 slices kept");
  const std::string want_first = "background,label 2,background,label 7,label 3,label 3,label 3,label 3";
  Check(Joined(SliceClasses(s)) == want_first,
        Format("slice classes %s, want %s", Joined(SliceClasses(s)).c_str(), want_first.c_str()));
  Check(Joined(s.ClassNames()) == "background,label 2,label 3,label 7",
        Format("classes %s", Joined(s.ClassNames()).c_str()));

  // A second volume brings label 5: label 7 moves from class 3 to class 4 in the first volume's slices too.
  auto second_map = LabelMapLike(volume);
  Paint(second_map, 2, 5, 40);
  Paint(second_map, 6, 7, 50);
  Check(s.AddImage(volume, "second", "float", "", second_map) == 8, "second volume kept");
  const mg_dataset &d = s.Dataset();
  const std::vector<int> want = { 0, 1, 0, 4, 2, 2, 2, 2, 0, 0, 3, 0, 0, 0, 4, 0 };
  bool same = d.count == 16 && d.num_classes == 5 && std::string(d.class_names[3]) == "label 5" &&
              std::string(d.class_names[4]) == "label 7";
  for (int i = 0; same && i < 16; ++i)
    same = d.labels[i] == want[i] && s.Source(i).label == want[i];
  Check(same, Format("renumbered labels wrong: classes %s, slice classes %s", Joined(s.ClassNames()).c_str(),
                     Joined(SliceClasses(s)).c_str()));
}

// Along every axis and for permuted storage, each slice's class comes from the voxels of that very slice.
static void
TestLabelMapAxes(const std::string &dir)
{
  const int nx = 12, ny = 9, nz = 7;
  // Labels 0..7 whose per-slice winners differ along every axis and are not symmetric.
  auto label = [](int x, int y, int z) {
    return static_cast<float>((x + y + z) % 2 == 0 ? std::min({ x, 2 * y, 3 * z }) % 8 : 0);
  };
  VolumeType::Pointer a, b, label_a, label_b;
  StoreTwice(nx, ny, nz, Pattern, a, b);
  StoreTwice(nx, ny, nz, label, label_a, label_b);
  label_b->CopyInformation(b);
  Write<VolumeType>(label_a, dir + "/identity_labels.nrrd");
  Write<VolumeType>(label_b, dir + "/permuted_labels.mha");
  for (auto axis : { medgen::SliceAxis::Axial, medgen::SliceAxis::Coronal, medgen::SliceAxis::Sagittal })
  {
    medgen::SliceOptions options;
    options.axis = axis;
    options.size = 16;
    options.min_foreground = 0.0;
    options.label_min_voxels = 3;
    medgen::SliceSet sa(options), sb(options);
    sa.AddVolume(dir + "/identity.nrrd", "", dir + "/identity_labels.nrrd");
    sb.AddVolume(dir + "/permuted.mha", "", dir + "/permuted_labels.mha");
    // The expected classes, counted here on the identity volume's array planes.
    const int slices = axis == medgen::SliceAxis::Axial ? nz : axis == medgen::SliceAxis::Coronal ? ny : nx;
    std::vector<std::string> want;
    for (int k = 0; k < slices; ++k)
    {
      int count[8] = { 0 };
      for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y)
          for (int x = 0; x < nx; ++x)
            if ((axis == medgen::SliceAxis::Axial ? z : axis == medgen::SliceAxis::Coronal ? y : x) == k)
              ++count[static_cast<int>(label(x, y, z))];
      int value = 7;
      while (value > 0 && count[value] < 3)
        --value;
      want.push_back(value ? "label " + std::to_string(value) : "background");
    }
    Check(Joined(SliceClasses(sa)) == Joined(want) && Joined(SliceClasses(sb)) == Joined(want),
          Format("axis %d: classes %s and %s, want %s", static_cast<int>(axis), Joined(SliceClasses(sa)).c_str(),
                 Joined(SliceClasses(sb)).c_str(), Joined(want).c_str()));
  }
}

static void
ExpectLabelMapRefused(const std::string &volume, const std::string &map, const std::vector<std::string> &words)
{
  medgen::SliceSet s(medgen::SliceOptions{});
  try
  {
    s.AddVolume(volume, "", map);
    Check(false, Format("%s accepted", map.c_str()));
  }
  catch (const medgen::VolumeError &e)
  {
    const std::string message = e.GetDescription();
    bool all = message.find(map) == 0;
    for (const std::string &word : words)
      all = all && message.find(word) != std::string::npos;
    Check(all,
          Format("message \"%s\" should open with %s and say %s", message.c_str(), map.c_str(), Joined(words).c_str()));
  }
  Check(s.Count() == 0, "a refused label map added slices");
}

static void
TestLabelMapRefusals(const std::string &dir)
{
  auto volume = NewVolume(10, 8, 6);
  VolumeType::SpacingType spacing;
  spacing[0] = 0.5, spacing[1] = 0.5, spacing[2] = 2.0;
  volume->SetSpacing(spacing);
  for (int i = 0; i < 480; ++i)
    volume->GetBufferPointer()[i] = static_cast<float>(i % 37);
  const std::string path = dir + "/lm_volume.nrrd";
  Write<VolumeType>(volume, path);
  auto map = LabelMapLike(volume);
  auto write_map = [&](const std::string &name, const VolumeType::Pointer &m) {
    Write<VolumeType>(m, dir + "/" + name);
    return dir + "/" + name;
  };

  auto small = NewVolume(10, 8, 5);
  small->SetSpacing(spacing);
  ExpectLabelMapRefused(path, write_map("lm_size.nrrd", small), { "size 10 x 8 x 5", "10 x 8 x 6", path });
  auto spaced = LabelMapLike(volume);
  VolumeType::SpacingType other_spacing = spacing;
  other_spacing[2] = 2.5;
  spaced->SetSpacing(other_spacing);
  ExpectLabelMapRefused(path, write_map("lm_spacing.nrrd", spaced),
                        { "spacing 0.5 x 0.5 x 2.5 mm, but the volume", "has 0.5 x 0.5 x 2 mm" });
  auto moved = LabelMapLike(volume);
  VolumeType::PointType origin = volume->GetOrigin();
  origin[1] += 0.25;
  moved->SetOrigin(origin);
  ExpectLabelMapRefused(path, write_map("lm_origin.nrrd", moved), { "origin (0, 0.25, 0)", "(0, 0, 0)" });
  auto turned = LabelMapLike(volume);
  VolumeType::DirectionType flipped = volume->GetDirection();
  flipped(0, 0) = -1.0;
  turned->SetDirection(flipped);
  ExpectLabelMapRefused(path, write_map("lm_direction.nrrd", turned), { "direction (-1, 0, 0; 0, 1, 0; 0, 0, 1)" });
  for (auto bad : { std::make_pair(1.5f, "a non-integer label value (1.5"),
                    std::make_pair(-1.0f, "a negative label value (-1"),
                    std::make_pair(256.0f, "a label value above the largest class number (256") })
  {
    auto m = LabelMapLike(volume);
    m->SetPixel({ { 3, 4, 5 } }, bad.first);
    ExpectLabelMapRefused(path, write_map("lm_bad_value.nrrd", m), { bad.second, "linear index 443" });
  }

  // Within tolerance (1e-4 of the spacing) is the same geometry.
  auto close = LabelMapLike(volume);
  VolumeType::SpacingType close_spacing = spacing;
  close_spacing[0] *= 1.0 + 2e-5;
  close->SetSpacing(close_spacing);
  medgen::SliceSet s(medgen::SliceOptions{});
  Check(s.AddVolume(path, "", write_map("lm_close.nrrd", close)) > 0, "a label map within tolerance refused");

  // In memory the label map is named after its volume.
  medgen::SliceSet in_memory(medgen::SliceOptions {});
  try
  {
    in_memory.AddImage(volume, "patient 7", "float", "", small);
    Check(false, "a label map of another size accepted in memory");
  }
  catch (const medgen::VolumeError &e)
  {
    Check(std::string(e.GetDescription()).find("patient 7's label map: size") == 0,
          Format("in-memory message: %s", e.GetDescription()));
  }
}

// One kind per set: unlabelled, class names, or label maps; a refused volume leaves the set as it was.
static void
TestLabelMapMixing(const std::string &dir)
{
  const std::string volume = dir + "/lm_volume.nrrd", map = dir + "/lm_close.nrrd";
  auto expect_mixing_refused =
    [&](medgen::SliceSet &s, const std::string &className, const std::string &labelMap, const char *words)
  {
    const int before = s.Count();
    try
    {
      s.AddVolume(volume, className, labelMap);
      Check(false, Format("mixing accepted: %s", words));
    }
    catch (const medgen::VolumeError &e)
    {
      Check(std::string(e.GetDescription()) == volume + ": " + words, Format("mixing message: %s", e.GetDescription()));
    }
    Check(s.Count() == before, "a refused volume changed the set");
  };
  medgen::SliceSet labelled(medgen::SliceOptions {});
  labelled.AddVolume(volume, "", map);
  expect_mixing_refused(labelled, "", "",
                        "has no class, but the volumes before it have a label map (one kind per set)");
  expect_mixing_refused(labelled, "lung", "",
                        "has a class name, but the volumes before it have a label map (one kind per set)");
  medgen::SliceSet named(medgen::SliceOptions{});
  named.AddVolume(volume, "lung");
  expect_mixing_refused(named, "", map,
                        "has a label map, but the volumes before it have a class name (one kind per set)");
  medgen::SliceSet plain(medgen::SliceOptions{});
  plain.AddVolume(volume);
  expect_mixing_refused(plain, "", map, "has a label map, but the volumes before it have no class (one kind per set)");
  expect_mixing_refused(plain, "lung", map, "has both a class name ('lung') and a label map; give one or the other");
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
  Check(w.norm_offset == 0.0 && w.norm_scale == 1000.0,
        Format("CT window: offset %g scale %g", w.norm_offset, w.norm_scale));
  Check(w.count == kept && w.num_classes == 1 && w.labels[0] == 0 && window.PixelType() == "short",
        Format("CT class and pixel type %s", window.PixelType().c_str()));
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
  Check(worst < 0.1, Format("CT window round trip off by %g HU", worst));
  Check(raw_min < -900.0 && raw_min > -3100.0 && raw_max > 1000.0 && raw_max < 4000.0,
        Format("CT range %g..%g is not HU", raw_min, raw_max));

  options.normalization = medgen::Normalization::Percentiles;
  medgen::SliceSet robust(options);
  robust.AddVolume(path);
  const mg_dataset &r = robust.Dataset();
  const double p_low = SortedPercentile(raw, 0.5), p_high = SortedPercentile(raw, 99.5);
  const double back_low = -1.0 * r.norm_scale + r.norm_offset, back_high = r.norm_scale + r.norm_offset;
  Check(std::fabs(back_low - p_low) < 1.0 && std::fabs(back_high - p_high) < 1.0,
        Format("CT percentiles map back to %g..%g, want %g..%g", back_low, back_high, p_low, p_high));

  // Background rule: every skipped slice has under 5% of its voxels above the threshold; at least one is skipped
  // (head CTs have air above and below the head) and at least half the slices are kept.
  options.min_foreground = 0.0;
  medgen::SliceSet all(options);
  const int total = all.AddVolume(path);
  Check(kept < total && kept > total / 2, Format("CT kept %d of %d slices", kept, total));
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
    Check(kept > 40 && lo == -1.0f && hi == 1.0f && d.norm_scale > 0.0,
          Format("MRI axis %d: %d slices, range %g..%g", static_cast<int>(axis), kept, lo, hi));
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
    TestTruncated(scratch);
    TestDicomSeries(scratch);
    TestLabelMapClasses();
    TestLabelMapAxes(scratch);
    TestLabelMapRefusals(scratch);
    TestLabelMapMixing(scratch);
    TestCT(std::string(argv[2]) + "/volumes/cranium_ct.nii.gz");
    TestMRI(std::string(argv[3]) + "/ch2.nii.gz");
  }
  catch (const itk::ExceptionObject &e)
  {
    std::printf("FAIL: unexpected exception: %s\n", e.GetDescription());
    return 1;
  }
  return medgen_test::Finish();
}
