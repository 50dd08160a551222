// medgenVtkVolumes: WriteVolume/ReadVolume round trips (NRRD, MetaImage, NIfTI; every scalar type; an oblique,
// permuted and flipped IJK-to-RAS matrix; metadata), refusals that name the file and leave nothing behind, the
// RAS/LPS convention checked against ITK's own reader, and SyntheticVolume: slices cut by medgen::SliceSet mapped
// back onto the source grid (ramps through every axis and orientation, picks, integer rounding, a real brain MRI).
// Usage: medgenVtkVolumesTest <scratch dir> <brain MRI (mricron's ch2.nii.gz; skipped when absent)>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkTestCheck.h"
#include "itkVectorImage.h"
#include "itksys/Directory.hxx"
#include "itksys/SystemTools.hxx"
#include "medgenVolumeSlices.h"
#include "medgenVtkVolumes.h"

#include "vtkDataArray.h"
#include "vtkImageData.h"
#include "vtkMatrix4x4.h"
#include "vtkNew.h"
#include "vtkPointData.h"

using medgen_test::Check;
using medgen_test::Format;

static std::string g_Scratch;

static std::string
Scratch(const std::string &name)
{
  return g_Scratch + "/" + name;
}

// Every entry of the scratch folder (a refusal must add none: no file, no temporary folder).
static std::vector<std::string>
ScratchEntries()
{
  itksys::Directory listing;
  listing.Load(g_Scratch);
  std::vector<std::string> entries;
  for (unsigned long i = 0; i < listing.GetNumberOfFiles(); ++i)
    if (std::strcmp(listing.GetFile(i), ".") && std::strcmp(listing.GetFile(i), ".."))
      entries.emplace_back(listing.GetFile(i));
  std::sort(entries.begin(), entries.end());
  return entries;
}

static bool
StartsWith(const std::string &text, const std::string &prefix)
{
  return text.rfind(prefix, 0) == 0;
}

// An IJK-to-RAS matrix from RAS direction columns, spacings and an origin.
static void
SetMatrix(vtkMatrix4x4 *m, const double columns[3][3], const double spacing[3], const double origin[3])
{
  m->Identity();
  for (int c = 0; c < 3; ++c)
  {
    for (int r = 0; r < 3; ++r)
      m->SetElement(r, c, columns[c][r] * spacing[c]);
    m->SetElement(c, 3, origin[c]);
  }
}

// Oblique (rotated 36.87 degrees about R), permuted and flipped: i runs inferior-ish, j right-ish, k posterior-ish.
static void
ObliqueMatrix(vtkMatrix4x4 *m)
{
  const double c = 0.8, s = 0.6;
  const double columns[3][3] = { { 0, s, -c }, { 1, 0, 0 }, { 0, -c, -s } };
  const double spacing[3] = { 0.75, 1.5, 2.5 };
  const double origin[3] = { 10.5, -20.25, 30.125 };
  SetMatrix(m, columns, spacing, origin);
}

static double
MatrixDifference(vtkMatrix4x4 *a, vtkMatrix4x4 *b)
{
  double worst = 0.0;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      worst = std::max(worst, std::fabs(a->GetElement(r, c) - b->GetElement(r, c)));
  return worst;
}

// Values spread over type's range, ends included, so that any conversion (to float, a narrower type, a clamp)
// would change some voxel.
static void
FillPattern(vtkImageData *image, int type, int nx, int ny, int nz)
{
  image->SetDimensions(nx, ny, nz);
  image->AllocateScalars(type, 1);
  const double lo = type == VTK_FLOAT || type == VTK_DOUBLE ? -1e6 : image->GetScalarTypeMin();
  const double hi = type == VTK_FLOAT || type == VTK_DOUBLE ? 1e6 : image->GetScalarTypeMax();
  const vtkIdType n = image->GetNumberOfPoints();
  for (vtkIdType i = 0; i < n; ++i)
  {
    double v = lo + (hi - lo) * static_cast<double>((i * 7919) % n) / (n - 1);
    if (type != VTK_FLOAT && type != VTK_DOUBLE)
      v = std::floor(v);
    else
      v += 0.123456789 * (i % 3);
    image->GetPointData()->GetScalars()->SetComponent(i, 0, v);
  }
}

static bool
SameVoxels(vtkImageData *a, vtkImageData *b)
{
  const int *da = a->GetDimensions(), *db = b->GetDimensions();
  if (da[0] != db[0] || da[1] != db[1] || da[2] != db[2] || a->GetScalarType() != b->GetScalarType())
    return false;
  return std::memcmp(a->GetScalarPointer(), b->GetScalarPointer(),
                     static_cast<size_t>(a->GetNumberOfPoints()) * a->GetScalarSize()) == 0;
}

static void
TestRoundTrips()
{
  const int types[] = { VTK_UNSIGNED_CHAR, VTK_SIGNED_CHAR, VTK_SHORT, VTK_UNSIGNED_SHORT,
                        VTK_INT,           VTK_UNSIGNED_INT, VTK_FLOAT, VTK_DOUBLE };
  const std::map<std::string, std::string> metadata = { { "MedGen_Synthetic", "1" },
                                                        { "Note", "key-value with spaces = kept" } };
  vtkNew<vtkMatrix4x4> matrix;
  ObliqueMatrix(matrix);
  for (const char *extension : { ".nrrd", ".mha", ".nii.gz" })
    for (int type : types)
    {
      vtkNew<vtkImageData> image;
      FillPattern(image, type, 7, 5, 4);
      const std::string path = Scratch(std::string("round_") + image->GetScalarTypeAsString() + extension);
      std::string error;
      const bool written = medgen::WriteVolume(image, matrix, path, error, metadata);
      Check(written, "WriteVolume " + path + ": " + error);
      if (!written)
        continue;
      vtkNew<vtkImageData> read;
      vtkNew<vtkMatrix4x4> readMatrix;
      std::map<std::string, std::string> readMetadata;
      const bool ok = medgen::ReadVolume(path, read, readMatrix, error, &readMetadata);
      Check(ok, "ReadVolume " + path + ": " + error);
      if (!ok)
        continue;
      Check(SameVoxels(image, read), path + ": voxels (and type, dimensions) changed in the round trip");
      const double difference = MatrixDifference(matrix, readMatrix);
      Check(difference < 1e-6, Format("%s: IJK-to-RAS differs by %g", path.c_str(), difference));
      Check(read->GetOrigin()[0] == 0.0 && read->GetSpacing()[2] == 1.0, path + ": image origin 0, spacing 1");
      if (std::string(extension) != ".nii.gz")
        for (const auto &entry : metadata)
          Check(readMetadata.count(entry.first) && readMetadata[entry.first] == entry.second,
                path + ": metadata key " + entry.first + " lost");
    }

  // A 2D image is a volume of one slice; a detached NRRD header travels with its data file.
  for (const char *name : { "flat.nrrd", "detached.nhdr" })
  {
    vtkNew<vtkImageData> image;
    FillPattern(image, VTK_SHORT, 6, 3, 1);
    const std::string path = Scratch(name);
    std::string error;
    vtkNew<vtkImageData> read;
    vtkNew<vtkMatrix4x4> readMatrix;
    Check(medgen::WriteVolume(image, matrix, path, error) && medgen::ReadVolume(path, read, readMatrix, error),
          path + ": " + error);
    Check(SameVoxels(image, read) && MatrixDifference(matrix, readMatrix) < 1e-6, path + ": round trip");
  }
}

static void
TestRefusals()
{
  vtkNew<vtkMatrix4x4> matrix;
  ObliqueMatrix(matrix);
  vtkNew<vtkImageData> image;
  FillPattern(image, VTK_FLOAT, 4, 4, 4);
  const std::vector<std::string> before = ScratchEntries();
  std::string error;

  const std::string missing = Scratch("no_such_folder/volume.nrrd");
  Check(!medgen::WriteVolume(image, matrix, missing, error), "writing into a missing folder succeeded");
  Check(StartsWith(error, missing + ": ") && error.find("does not exist") != std::string::npos,
        "missing folder message: " + error);

  vtkNew<vtkImageData> twoComponents;
  twoComponents->SetDimensions(4, 4, 4);
  twoComponents->AllocateScalars(VTK_FLOAT, 2);
  const std::string colour = Scratch("two_components.nrrd");
  Check(!medgen::WriteVolume(twoComponents, matrix, colour, error), "a 2-component image was written");
  Check(StartsWith(error, colour + ": ") && error.find("2 components") != std::string::npos,
        "2-component message: " + error);

  const std::string unknown = Scratch("volume.unknown_format");
  Check(!medgen::WriteVolume(image, matrix, unknown, error) && StartsWith(error, unknown + ": "),
        "unknown extension: " + error);

  vtkNew<vtkMatrix4x4> singular;
  singular->SetElement(2, 2, 0.0);
  const std::string flat = Scratch("singular.nrrd");
  Check(!medgen::WriteVolume(image, singular, flat, error) && StartsWith(error, flat + ": "),
        "a matrix with a zero column: " + error);
  Check(ScratchEntries() == before, "a refused write left something in the scratch folder");

  // Reading: a missing file, a 4D file and a 2-component file are refused by name.
  vtkNew<vtkImageData> read;
  vtkNew<vtkMatrix4x4> readMatrix;
  const std::string absent = Scratch("absent.nrrd");
  Check(!medgen::ReadVolume(absent, read, readMatrix, error) && StartsWith(error, absent + ": "),
        "missing file: " + error);

  using Image4 = itk::Image<float, 4>;
  auto image4 = Image4::New();
  image4->SetRegions(Image4::SizeType{ { 3, 3, 3, 2 } });
  image4->Allocate();
  image4->FillBuffer(1.0f);
  const std::string path4 = Scratch("four_d.nrrd");
  itk::WriteImage(image4, path4);
  Check(!medgen::ReadVolume(path4, read, readMatrix, error) && StartsWith(error, path4 + ": ") &&
          error.find("4D") != std::string::npos,
        "4D file: " + error);

  using VectorImage = itk::VectorImage<float, 3>;
  auto vectors = VectorImage::New();
  vectors->SetRegions(VectorImage::SizeType{ { 3, 3, 3 } });
  vectors->SetNumberOfComponentsPerPixel(2);
  vectors->Allocate();
  const std::string vectorPath = Scratch("vectors.nrrd");
  itk::WriteImage(vectors, vectorPath);
  Check(!medgen::ReadVolume(vectorPath, read, readMatrix, error) && StartsWith(error, vectorPath + ": ") &&
          error.find("2 components") != std::string::npos,
        "2-component file: " + error);
}

// The convention checked with ITK's reader and values worked out by hand: RAS = diag(-1, -1, 1) * LPS.
static void
TestRASConvention()
{
  // i runs anterior (RAS +A), 2 mm; j runs left (RAS -R), 3 mm; k runs superior, 4 mm; origin RAS (10, 20, 30).
  vtkNew<vtkMatrix4x4> matrix;
  const double columns[3][3] = { { 0, 1, 0 }, { -1, 0, 0 }, { 0, 0, 1 } };
  const double spacing[3] = { 2, 3, 4 };
  const double origin[3] = { 10, 20, 30 };
  SetMatrix(matrix, columns, spacing, origin);
  vtkNew<vtkImageData> image;
  FillPattern(image, VTK_SHORT, 5, 4, 3);
  const std::string path = Scratch("convention.nrrd");
  std::string error;
  Check(medgen::WriteVolume(image, matrix, path, error), "WriteVolume convention.nrrd: " + error);
  auto itkImage = itk::ReadImage<itk::Image<short, 3>>(path);
  const auto o = itkImage->GetOrigin();
  const auto s = itkImage->GetSpacing();
  const auto d = itkImage->GetDirection();
  Check(o[0] == -10 && o[1] == -20 && o[2] == 30, Format("LPS origin (%g, %g, %g), expected (-10, -20, 30)", o[0],
                                                         o[1], o[2]));
  Check(s[0] == 2 && s[1] == 3 && s[2] == 4, Format("spacing (%g, %g, %g), expected (2, 3, 4)", s[0], s[1], s[2]));
  // LPS columns: i = posterior flipped -> (0, -1, 0); j = RAS -R = +L -> (1, 0, 0); k = (0, 0, 1).
  const double expected[3][3] = { { 0, 1, 0 }, { -1, 0, 0 }, { 0, 0, 1 } }; // rows
  bool same = true;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      same = same && std::fabs(d(r, c) - expected[r][c]) < 1e-12;
  Check(same, Format("LPS direction rows (%g %g %g; %g %g %g; %g %g %g), expected (0 1 0; -1 0 0; 0 0 1)", d(0, 0),
                     d(0, 1), d(0, 2), d(1, 0), d(1, 1), d(1, 2), d(2, 0), d(2, 1), d(2, 2)));
  // Voxel (1, 0, 0) lies 2 mm anterior of the origin: RAS (10, 22, 30), LPS (-10, -22, 30).
  itk::Image<short, 3>::PointType p;
  itkImage->TransformIndexToPhysicalPoint({ { 1, 0, 0 } }, p);
  Check(p[0] == -10 && p[1] == -22 && p[2] == 30, Format("voxel (1,0,0) at LPS (%g, %g, %g)", p[0], p[1], p[2]));
}


// ---- SyntheticVolume ----

// Geometries for the cut tests: anisotropic spacing, non-square slices along every axis (40 x 26 x 33 voxels), and
// direction matrices that are permuted and flipped (the second also oblique by a few degrees, which SliceSet cuts
// along its nearest array axis).
static void
CutMatrix(int which, vtkMatrix4x4 *m)
{
  const double spacing[3] = { 0.75, 1.5, 2.5 };
  const double origin[3] = { -12.5, 40.25, 7.0 };
  if (which == 0)
  {
    const double columns[3][3] = { { 0, 0, -1 }, { -1, 0, 0 }, { 0, 1, 0 } }; // i: -S, j: -R, k: +A
    SetMatrix(m, columns, spacing, origin);
  }
  else
  {
    const double c = std::cos(0.1), s = std::sin(0.1);
    const double columns[3][3] = { { 0, -c, s }, { 0, s, c }, { -1, 0, 0 } }; // i: ~-A, j: ~+S, k: -R
    SetMatrix(m, columns, spacing, origin);
  }
}

static const int kCutDims[3] = { 40, 26, 33 };

// The RAS position of voxel (i, j, k).
static void
RASOf(vtkMatrix4x4 *m, double i, double j, double k, double ras[3])
{
  for (int r = 0; r < 3; ++r)
    ras[r] = m->GetElement(r, 0) * i + m->GetElement(r, 1) * j + m->GetElement(r, 2) * k + m->GetElement(r, 3);
}

// A source volume whose voxels are value(i, j, k) in type.
static void
FillSource(vtkImageData *image, int type, const std::function<double(int, int, int)> &value)
{
  image->SetDimensions(kCutDims[0], kCutDims[1], kCutDims[2]);
  image->AllocateScalars(type, 1);
  vtkDataArray *scalars = image->GetPointData()->GetScalars();
  vtkIdType at = 0;
  for (int k = 0; k < kCutDims[2]; ++k)
    for (int j = 0; j < kCutDims[1]; ++j)
      for (int i = 0; i < kCutDims[0]; ++i)
        scalars->SetComponent(at++, 0, value(i, j, k));
}

// The slices SliceSet cuts from source (written to name first, so that SliceSet reads it as a training volume),
// as a size x size x count float image, image k = RawSlice(k); mmPerPixel gets their pixel size.
static bool
CutSlices(vtkImageData *source, vtkMatrix4x4 *matrix, const std::string &name, const std::string &axis, int size,
          vtkImageData *slices, double &mmPerPixel)
{
  std::string error;
  const std::string path = Scratch(name);
  if (!medgen::WriteVolume(source, matrix, path, error))
  {
    Check(false, "WriteVolume: " + error);
    return false;
  }
  medgen::SliceOptions options;
  options.axis = axis == "axial" ? medgen::SliceAxis::Axial
                 : axis == "coronal" ? medgen::SliceAxis::Coronal
                                     : medgen::SliceAxis::Sagittal;
  options.size = size;
  options.min_foreground = 0.0; // every slice, so that the synthetic volume covers the whole source grid
  medgen::SliceSet set(options);
  try
  {
    set.AddVolume(path);
  }
  catch (const itk::ExceptionObject &e)
  {
    Check(false, std::string("SliceSet: ") + e.GetDescription());
    return false;
  }
  slices->SetDimensions(size, size, set.Count());
  slices->AllocateScalars(VTK_FLOAT, 1);
  float *pixels = static_cast<float *>(slices->GetScalarPointer());
  for (int k = 0; k < set.Count(); ++k)
    std::copy(set.RawSlice(k), set.RawSlice(k) + size * size, pixels + static_cast<size_t>(k) * size * size);
  mmPerPixel = set.Source(0).mm_per_pixel;
  return true;
}

// Ramps mapped back. The source is linear in patient position and bilinear interpolation reproduces a linear
// function exactly, so in the interior the round trip (SliceSet's bilinear resampling to 64 x 64, then
// SyntheticVolume's back onto the grid) must give the source's values up to float rounding (1e-3 on values of a few
// hundred). Within m = ceil(mm_per_pixel / spacing) voxels of a border, the edge clamps (SliceSet's at the slice's
// border, SyntheticVolume's nearest value at its field of view) cost at most the ramp's change over one pixel along
// each axis: sum_d |slope per voxel along d| * mm_per_pixel / spacing_d. A wrong flip or axis mirrors or swaps
// the ramps: errors of tens.
static void
TestRampsMapBack()
{
  for (int geometry = 0; geometry < 2; ++geometry)
    for (const std::string axis : { "axial", "coronal", "sagittal" })
    {
      const std::string what = Format("ramps, geometry %d, %s: ", geometry, axis.c_str());
      vtkNew<vtkMatrix4x4> matrix;
      CutMatrix(geometry, matrix);
      const double coefficients[3] = { 1.0, 2.0, 3.0 }; // per mm of R, A, S
      auto ramp = [&](double i, double j, double k) {
        double ras[3];
        RASOf(matrix, i, j, k, ras);
        return 300.0 + coefficients[0] * ras[0] + coefficients[1] * ras[1] + coefficients[2] * ras[2];
      };
      vtkNew<vtkImageData> source;
      FillSource(source, VTK_FLOAT, ramp);
      vtkNew<vtkImageData> slices;
      double mm = 0.0;
      if (!CutSlices(source, matrix, "ramps.nrrd", axis, 64, slices, mm))
        continue;
      vtkNew<vtkImageData> out;
      vtkNew<vtkMatrix4x4> outMatrix;
      std::string error;
      if (!medgen::SyntheticVolume(slices, {}, source, matrix, axis, out, outMatrix, error))
      {
        Check(false, what + error);
        continue;
      }
      const int *dims = out->GetDimensions();
      Check(dims[0] == kCutDims[0] && dims[1] == kCutDims[1] && dims[2] == kCutDims[2],
            what + Format("dimensions %d x %d x %d", dims[0], dims[1], dims[2]));
      Check(MatrixDifference(matrix, outMatrix) == 0.0, what + "the matrix is not the source's");
      Check(out->GetScalarType() == VTK_FLOAT, what + "scalar type");
      if (dims[0] != kCutDims[0] || dims[1] != kCutDims[1] || dims[2] != kCutDims[2])
        continue;
      int margin[3];
      double borderBound = 1e-3;
      for (int d = 0; d < 3; ++d)
      {
        const double spacing = std::sqrt(matrix->GetElement(0, d) * matrix->GetElement(0, d) +
                                         matrix->GetElement(1, d) * matrix->GetElement(1, d) +
                                         matrix->GetElement(2, d) * matrix->GetElement(2, d));
        const double slope = std::fabs(coefficients[0] * matrix->GetElement(0, d) +
                                       coefficients[1] * matrix->GetElement(1, d) +
                                       coefficients[2] * matrix->GetElement(2, d));
        margin[d] = static_cast<int>(std::ceil(mm / spacing));
        borderBound += slope * mm / spacing;
      }
      double interior = 0.0, border = 0.0;
      const float *values = static_cast<float *>(out->GetScalarPointer());
      for (int k = 0, at = 0; k < dims[2]; ++k)
        for (int j = 0; j < dims[1]; ++j)
          for (int i = 0; i < dims[0]; ++i, ++at)
          {
            const double e = std::fabs(values[at] - static_cast<float>(ramp(i, j, k)));
            const bool inside = i >= margin[0] && i < dims[0] - margin[0] && j >= margin[1] &&
                                j < dims[1] - margin[1] && k >= margin[2] && k < dims[2] - margin[2];
            (inside ? interior : border) = std::max(inside ? interior : border, e);
          }
      Check(interior < 1e-3, what + Format("interior error %g (float rounding expected)", interior));
      Check(border <= borderBound, what + Format("border error %g above %g", border, borderBound));
    }
}

// Integer sources: the result is rounded to the source's type and clamped to its range. Voxels linear in (i, j, k)
// come back exactly in the interior; slices raised by 100.4 come back as min(value + 100, 255) in unsigned char.
static void
TestIntegerTypes()
{
  vtkNew<vtkMatrix4x4> matrix;
  CutMatrix(0, matrix);
  for (const int type : { VTK_SHORT, VTK_UNSIGNED_CHAR })
  {
    const std::string what = Format("integer type %d: ", type);
    auto value = [&](int i, int j, int k) {
      return type == VTK_SHORT ? 3.0 * i - 5.0 * j + 7.0 * k - 200.0 : 2.0 * i + 3.0 * j + k;
    };
    vtkNew<vtkImageData> source;
    FillSource(source, type, value);
    vtkNew<vtkImageData> slices;
    double mm = 0.0;
    if (!CutSlices(source, matrix, "integers.nrrd", "coronal", 64, slices, mm))
      continue;
    const double raise = type == VTK_SHORT ? 0.0 : 100.4;
    float *pixels = static_cast<float *>(slices->GetScalarPointer());
    for (vtkIdType p = 0; p < slices->GetNumberOfPoints(); ++p)
      pixels[p] += static_cast<float>(raise);
    vtkNew<vtkImageData> out;
    vtkNew<vtkMatrix4x4> outMatrix;
    std::string error;
    if (!medgen::SyntheticVolume(slices, {}, source, matrix, "coronal", out, outMatrix, error))
    {
      Check(false, what + error);
      continue;
    }
    Check(out->GetScalarType() == type, what + "the source's scalar type");
    const int margin = 3; // ceil(mm_per_pixel / smallest spacing) = ceil(1.29 / 0.75)
    int wrong = 0;
    for (int k = margin; k < kCutDims[2] - margin; ++k)
      for (int j = margin; j < kCutDims[1] - margin; ++j)
        for (int i = margin; i < kCutDims[0] - margin; ++i)
        {
          const double expected = std::min(value(i, j, k) + std::round(raise), 255.0);
          wrong += out->GetScalarComponentAsDouble(i, j, k, 0) != (type == VTK_SHORT ? value(i, j, k) : expected);
        }
    Check(wrong == 0, what + Format("%d interior voxels not rounded (and clamped) to the source's value", wrong));
  }
}

// Picks: image picks[n] lands on the n-th slice in SliceSet's reading order (inferior -> superior for axial,
// anterior -> posterior for coronal, right -> left for sagittal), found here from the output's patient positions.
static void
TestPicks()
{
  const int size = 64, count = 5;
  vtkNew<vtkImageData> slices;
  slices->SetDimensions(size, size, count);
  slices->AllocateScalars(VTK_FLOAT, 1);
  for (int k = 0; k < count; ++k)
    std::fill_n(static_cast<float *>(slices->GetScalarPointer()) + k * size * size, size * size, 10.0f * (k + 1));
  const std::vector<int> picks = { 3, 0, 4 };
  for (int geometry = 0; geometry < 2; ++geometry)
    for (const std::string axis : { "axial", "coronal", "sagittal" })
    {
      const std::string what = Format("picks, geometry %d, %s: ", geometry, axis.c_str());
      vtkNew<vtkMatrix4x4> matrix;
      CutMatrix(geometry, matrix);
      vtkNew<vtkImageData> source;
      FillSource(source, VTK_SHORT, [](int i, int j, int k) { return i + j + k; });
      vtkNew<vtkImageData> out;
      vtkNew<vtkMatrix4x4> outMatrix;
      std::string error;
      if (!medgen::SyntheticVolume(slices, picks, source, matrix, axis, out, outMatrix, error))
      {
        Check(false, what + error);
        continue;
      }
      // The cut array axis: the one nearest the patient axis of the slice normal; reading order along it.
      const int patient = axis == "axial" ? 2 : axis == "coronal" ? 1 : 0;
      const double reading = axis == "axial" ? 1.0 : -1.0; // RAS: +S, -A (posterior), -R (left)
      int cut = 0;
      for (int d = 1; d < 3; ++d)
        if (std::fabs(matrix->GetElement(patient, d)) > std::fabs(matrix->GetElement(patient, cut)))
          cut = d;
      const int *dims = out->GetDimensions();
      bool dimsRight = true;
      for (int d = 0; d < 3; ++d)
        dimsRight = dimsRight && dims[d] == (d == cut ? static_cast<int>(picks.size()) : kCutDims[d]);
      Check(dimsRight, what + Format("dimensions %d x %d x %d", dims[0], dims[1], dims[2]));
      if (!dimsRight)
        continue;
      std::vector<std::pair<double, int>> positions; // (reading coordinate, slice index along the cut axis)
      for (int n = 0; n < dims[cut]; ++n)
      {
        double index[3] = { 0, 0, 0 }, ras[3];
        index[cut] = n;
        RASOf(outMatrix, index[0], index[1], index[2], ras);
        positions.push_back({ reading * ras[patient], n });
      }
      std::sort(positions.begin(), positions.end());
      for (size_t rank = 0; rank < positions.size(); ++rank)
      {
        int index[3] = { 1, 2, 3 };
        index[cut] = positions[rank].second;
        const double got = out->GetScalarComponentAsDouble(index[0], index[1], index[2], 0);
        Check(got == 10.0 * (picks[rank] + 1),
              what + Format("slice %zu in reading order holds %g, expected image %d", rank, got, picks[rank]));
      }
      Check(!medgen::SyntheticVolume(slices, { 1, 5 }, source, matrix, axis, out, outMatrix, error) &&
              StartsWith(error, "picks: "),
            what + "a pick beyond the images: " + error);
    }
  vtkNew<vtkImageData> source;
  vtkNew<vtkMatrix4x4> matrix;
  vtkNew<vtkImageData> out;
  vtkNew<vtkMatrix4x4> outMatrix;
  FillSource(source, VTK_SHORT, [](int i, int j, int k) { return i + j + k; });
  std::string error;
  Check(!medgen::SyntheticVolume(slices, {}, source, matrix, "oblique", out, outMatrix, error) &&
          StartsWith(error, "axis: "),
        "an unknown axis: " + error);
}

// A real brain MRI (Colin-27 T1, 181 x 217 x 181 unsigned char at 1 mm) read with ReadVolume, cut by SliceSet at
// 256 x 256 (0.85 mm pixels) and mapped back: two bilinear resamplings of a sharp image, so the error is small but
// not zero; its mean must stay under 1% of the intensity range.
static void
TestBrainMRI(const std::string &path)
{
  if (!itksys::SystemTools::FileExists(path))
  {
    std::cout << "skipped the brain MRI: " << path << " is absent (Debian package mricron-data)" << std::endl;
    return;
  }
  vtkNew<vtkImageData> source;
  vtkNew<vtkMatrix4x4> matrix;
  std::string error;
  if (!medgen::ReadVolume(path, source, matrix, error))
  {
    Check(false, "ReadVolume: " + error);
    return;
  }
  for (const std::string axis : { "axial", "sagittal" })
  {
    vtkNew<vtkImageData> slices;
    double mm = 0.0;
    if (!CutSlices(source, matrix, "brain.nrrd", axis, 256, slices, mm))
      return;
    vtkNew<vtkImageData> out;
    vtkNew<vtkMatrix4x4> outMatrix;
    if (!medgen::SyntheticVolume(slices, {}, source, matrix, axis, out, outMatrix, error))
    {
      Check(false, "brain MRI: " + error);
      return;
    }
    const int *dims = out->GetDimensions(), *sourceDims = source->GetDimensions();
    Check(dims[0] == sourceDims[0] && dims[1] == sourceDims[1] && dims[2] == sourceDims[2],
          "brain MRI " + axis + ": dimensions");
    Check(out->GetScalarType() == source->GetScalarType() && MatrixDifference(matrix, outMatrix) == 0.0,
          "brain MRI " + axis + ": type and matrix are the source's");
    const vtkIdType n = source->GetNumberOfPoints();
    if (out->GetNumberOfPoints() != n)
      continue;
    double sum = 0.0, lo = 1e300, hi = -1e300;
    vtkDataArray *a = source->GetPointData()->GetScalars(), *b = out->GetPointData()->GetScalars();
    for (vtkIdType i = 0; i < n; ++i)
    {
      sum += std::fabs(a->GetComponent(i, 0) - b->GetComponent(i, 0));
      lo = std::min(lo, a->GetComponent(i, 0));
      hi = std::max(hi, a->GetComponent(i, 0));
    }
    const double relative = sum / n / (hi - lo);
    std::cout << "brain MRI " << axis << ": mean absolute error " << sum / n << " over a range of " << hi - lo
              << " (" << 100 * relative << "%)" << std::endl;
    Check(relative < 0.01, Format("brain MRI %s: mean absolute error %.3g%% of the range", axis.c_str(),
                                  100 * relative));
  }
}

int
main(int argc, char *argv[])
{
  if (argc < 3)
  {
    std::cerr << "usage: medgenVtkVolumesTest <scratch dir> <brain MRI>" << std::endl;
    return 2;
  }
  g_Scratch = argv[1];
  itksys::SystemTools::RemoveADirectory(g_Scratch);
  itksys::SystemTools::MakeDirectory(g_Scratch);
  TestRoundTrips();
  TestRefusals();
  TestRASConvention();
  TestRampsMapBack();
  TestIntegerTypes();
  TestPicks();
  TestBrainMRI(argv[2]);
  return medgen_test::Finish();
}
