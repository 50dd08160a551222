// medgenVtkVolumes.h's implementation: vtkImageData + IJK-to-RAS <-> itk::Image<T, 3> in LPS (files through ITK's
// readers and writers), and synthetic slices mapped back onto a source volume's grid through medgen::SliceFrameOf,
// the same geometry medgen::SliceSet cuts with.
#include "medgenVtkVolumes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <type_traits>

#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkImageIOFactory.h"
#include "itkMetaDataObject.h"
#include "itksys/SystemTools.hxx"
#include "medgenPixelType.h"
#include "medgenStagedOutput.h"
#include "medgenVolumeSlices.h"

#include "vtkDataArray.h"
#include "vtkImageData.h"
#include "vtkMatrix4x4.h"
#include "vtkPointData.h"
#include "vtkTypeTraits.h"

namespace medgen
{
namespace
{

using Geometry = itk::ImageBase<3>;

// RAS = diag(-1, -1, 1) * LPS: the sign of row r of a patient-space vector or matrix in either direction.
constexpr double kRASFromLPS[3] = { -1.0, -1.0, 1.0 };

// The ITK geometry (LPS) of an IJK-to-RAS matrix: spacing = column norms, direction = normalized columns, both with
// the first two rows negated, origin likewise. false with problem set when the matrix cannot be an image geometry.
bool
ItkGeometry(vtkMatrix4x4 *ijkToRAS, Geometry::SpacingType &spacing, Geometry::DirectionType &direction,
            Geometry::PointType &origin, std::string &problem)
{
  if (!ijkToRAS)
  {
    problem = "no IJK-to-RAS matrix given";
    return false;
  }
  for (int c = 0; c < 3; ++c)
  {
    const double norm = std::sqrt(ijkToRAS->GetElement(0, c) * ijkToRAS->GetElement(0, c) +
                                  ijkToRAS->GetElement(1, c) * ijkToRAS->GetElement(1, c) +
                                  ijkToRAS->GetElement(2, c) * ijkToRAS->GetElement(2, c));
    if (!(norm > 0.0) || !std::isfinite(norm))
    {
      problem = "the IJK-to-RAS matrix's column " + std::to_string(c) + " has length " + std::to_string(norm) +
                " (a voxel spacing must be positive and finite)";
      return false;
    }
    spacing[c] = norm;
    for (int r = 0; r < 3; ++r)
      direction(r, c) = kRASFromLPS[r] * ijkToRAS->GetElement(r, c) / norm;
  }
  for (int r = 0; r < 3; ++r)
  {
    origin[r] = kRASFromLPS[r] * ijkToRAS->GetElement(r, 3);
    if (!std::isfinite(origin[r]))
    {
      problem = "the IJK-to-RAS matrix's origin is not finite";
      return false;
    }
  }
  const double determinant = direction(0, 0) * (direction(1, 1) * direction(2, 2) - direction(1, 2) * direction(2, 1)) -
                             direction(0, 1) * (direction(1, 0) * direction(2, 2) - direction(1, 2) * direction(2, 0)) +
                             direction(0, 2) * (direction(1, 0) * direction(2, 1) - direction(1, 1) * direction(2, 0));
  if (std::fabs(determinant) < 1e-6)
  {
    problem = "the IJK-to-RAS matrix is singular (its axes are parallel)";
    return false;
  }
  return true;
}

void
SetIJKToRAS(const Geometry *image, vtkMatrix4x4 *ijkToRAS)
{
  ijkToRAS->Identity();
  for (int r = 0; r < 3; ++r)
  {
    for (int c = 0; c < 3; ++c)
      ijkToRAS->SetElement(r, c, kRASFromLPS[r] * image->GetDirection()(r, c) * image->GetSpacing()[c]);
    ijkToRAS->SetElement(r, 3, kRASFromLPS[r] * image->GetOrigin()[r]);
  }
}

// The name medgen::ForPixelType knows for a VTK scalar type ("" for types ITK's writers do not take).
std::string
PixelTypeName(int vtkType)
{
  switch (vtkType)
  {
    case VTK_CHAR:
      return std::numeric_limits<char>::is_signed ? "char" : "unsigned char";
    case VTK_SIGNED_CHAR:
      return "char";
    case VTK_UNSIGNED_CHAR:
    case VTK_SHORT:
    case VTK_UNSIGNED_SHORT:
    case VTK_INT:
    case VTK_UNSIGNED_INT:
    case VTK_FLOAT:
    case VTK_DOUBLE:
      return vtkImageScalarTypeNameMacro(vtkType);
    default:
      return "";
  }
}

// One-component scalars of image, or null with problem set.
vtkDataArray *
SingleComponentScalars(vtkImageData *image, std::string &problem)
{
  vtkDataArray *scalars = image ? image->GetPointData()->GetScalars() : nullptr;
  if (!scalars)
    problem = "no image voxels given";
  else if (scalars->GetNumberOfComponents() != 1)
    problem = "the image has " + std::to_string(scalars->GetNumberOfComponents()) +
              " components per voxel; volumes have one";
  else if (scalars->GetNumberOfTuples() != image->GetNumberOfPoints())
    problem = "the image has " + std::to_string(scalars->GetNumberOfTuples()) + " voxel values for " +
              std::to_string(image->GetNumberOfPoints()) + " voxels";
  else
    return scalars;
  return nullptr;
}

template <typename T>
void
WriteItkImage(vtkImageData *image, const Geometry::SpacingType &spacing, const Geometry::DirectionType &direction,
              const Geometry::PointType &origin, const std::map<std::string, std::string> &metadata,
              const std::string &file)
{
  using ImageType = itk::Image<T, 3>;
  auto itkImage = ImageType::New();
  const int *dims = image->GetDimensions();
  typename ImageType::SizeType size;
  for (int d = 0; d < 3; ++d)
    size[d] = static_cast<itk::SizeValueType>(dims[d]);
  itkImage->SetRegions(size);
  itkImage->SetSpacing(spacing);
  itkImage->SetDirection(direction);
  itkImage->SetOrigin(origin);
  itkImage->Allocate();
  std::memcpy(itkImage->GetBufferPointer(), image->GetScalarPointer(),
              itkImage->GetLargestPossibleRegion().GetNumberOfPixels() * sizeof(T));
  for (const auto &entry : metadata)
    itk::EncapsulateMetaData<std::string>(itkImage->GetMetaDataDictionary(), entry.first, entry.second);
  auto writer = itk::ImageFileWriter<ImageType>::New();
  writer->SetInput(itkImage);
  writer->SetFileName(file);
  writer->SetUseCompression(true);
  writer->Update();
}

template <typename T>
void
ReadItkImage(itk::ImageIOBase *io, const std::string &path, vtkImageData *image, vtkMatrix4x4 *ijkToRAS,
             std::map<std::string, std::string> *metadata)
{
  using ImageType = itk::Image<T, 3>;
  auto reader = itk::ImageFileReader<ImageType>::New();
  reader->SetImageIO(io);
  reader->SetFileName(path);
  reader->Update();
  const ImageType *itkImage = reader->GetOutput();
  const auto size = itkImage->GetLargestPossibleRegion().GetSize();
  image->SetDimensions(static_cast<int>(size[0]), static_cast<int>(size[1]), static_cast<int>(size[2]));
  image->SetOrigin(0.0, 0.0, 0.0);
  image->SetSpacing(1.0, 1.0, 1.0);
  image->AllocateScalars(vtkTypeTraits<T>::VTKTypeID(), 1);
  std::memcpy(image->GetScalarPointer(), itkImage->GetBufferPointer(),
              itkImage->GetLargestPossibleRegion().GetNumberOfPixels() * sizeof(T));
  image->Modified();
  SetIJKToRAS(itkImage, ijkToRAS);
  if (!metadata)
    return;
  metadata->clear();
  // The file's key-value fields; ITK's own records of the format (which reader, NRRD's standard fields) are not.
  const itk::MetaDataDictionary &dictionary = itkImage->GetMetaDataDictionary();
  for (const std::string &key : dictionary.GetKeys())
  {
    std::string value;
    if (key != "ITK_InputFilterName" && key.rfind("NRRD_", 0) != 0 &&
        itk::ExposeMetaData<std::string>(dictionary, key, value))
      (*metadata)[key] = value;
  }
}

// Pixel (column or row) positions of one synthetic image axis, for each voxel along the matching source axis: where
// bilinear interpolation samples, kept within the pixels that lie over the source (the fit's padding is no value).
struct PixelSamples
{
  std::vector<int> first, second; // the two pixels interpolated
  std::vector<double> weight;     // of second
};

PixelSamples
SamplesAlong(int voxels, int size, const std::function<double(double)> &pixelOf,
             const std::function<bool(int)> &pixelInField)
{
  int lo = 0, hi = size - 1;
  while (lo < size && !pixelInField(lo))
    ++lo;
  while (hi >= 0 && !pixelInField(hi))
    --hi;
  if (lo > hi) // a slice thinner than one pixel: its nearest pixel
    lo = hi = std::min(std::max(static_cast<int>(std::lround(pixelOf(0.5 * (voxels - 1)))), 0), size - 1);
  PixelSamples samples;
  for (int i = 0; i < voxels; ++i)
  {
    const double at = std::min(std::max(pixelOf(i), static_cast<double>(lo)), static_cast<double>(hi));
    const int first = std::min(static_cast<int>(at), hi);
    samples.first.push_back(first);
    samples.second.push_back(std::min(first + 1, hi));
    samples.weight.push_back(at - first);
  }
  return samples;
}

template <typename T>
T
VoxelValue(double value)
{
  if constexpr (std::numeric_limits<T>::is_integer)
    return static_cast<T>(std::min(std::max(std::round(value), static_cast<double>(std::numeric_limits<T>::lowest())),
                                   static_cast<double>(std::numeric_limits<T>::max())));
  else
    return static_cast<T>(value);
}

} // namespace

bool
WriteVolume(vtkImageData *image, vtkMatrix4x4 *ijkToRAS, const std::string &path, std::string &error,
            const std::map<std::string, std::string> &metadata)
{
  auto fail = [&](const std::string &problem) {
    error = path + ": " + problem;
    return false;
  };
  std::string problem;
  if (!SingleComponentScalars(image, problem))
    return fail(problem);
  const std::string pixelType = PixelTypeName(image->GetScalarType());
  if (pixelType.empty())
    return fail(std::string("voxels of type ") + image->GetScalarTypeAsString() +
                " cannot be written (char, unsigned char, short, unsigned short, int, unsigned int, float, double)");
  Geometry::SpacingType spacing;
  Geometry::DirectionType direction;
  Geometry::PointType origin;
  if (!ItkGeometry(ijkToRAS, spacing, direction, origin, problem))
    return fail(problem);
  const std::string folder = itksys::SystemTools::GetFilenamePath(path);
  if (!folder.empty() && !itksys::SystemTools::FileIsDirectory(folder))
    return fail("the folder " + folder + " does not exist");
  if (!itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::WriteMode))
    return fail("no ITK writer for this file name's extension (.nrrd, .nhdr, .mha, .mhd, .nii, .nii.gz, ...)");
  try
  {
    StagedOutput staged(path);
    ForPixelType(pixelType, [&](auto pixel) {
      WriteItkImage<decltype(pixel)>(image, spacing, direction, origin, metadata, staged.StagedPath());
    });
    staged.Publish();
  }
  catch (const itk::ExceptionObject &e)
  {
    return fail(std::string("cannot be written: ") + e.GetDescription());
  }
  catch (const std::exception &e)
  {
    error = e.what(); // "<path>: <problem>"
    return false;
  }
  return true;
}

bool
ReadVolume(const std::string &path, vtkImageData *image, vtkMatrix4x4 *ijkToRAS, std::string &error,
           std::map<std::string, std::string> *metadata)
{
  auto fail = [&](const std::string &problem) {
    error = path + ": " + problem;
    return false;
  };
  if (!image || !ijkToRAS)
    return fail("no image or matrix to read into");
  if (!itksys::SystemTools::FileExists(path) || itksys::SystemTools::FileIsDirectory(path))
    return fail("does not exist or is not a file");
  itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io)
    return fail("cannot be read: not an image, or a damaged file (no ITK reader recognises it)");
  try
  {
    io->SetFileName(path);
    io->ReadImageInformation();
    CheckSingleChannel(path, *io); // throws VolumeError "<path>: ..." for 4D and multi-component files
    CheckComplete(path);
    const std::string pixelType = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
    const bool known = ForPixelType(pixelType, [&](auto pixel) {
      ReadItkImage<decltype(pixel)>(io, path, image, ijkToRAS, metadata);
    });
    if (!known)
      return fail("voxels of type " + pixelType +
                  " are not read (char, unsigned char, short, unsigned short, int, unsigned int, float, double)");
  }
  catch (const VolumeError &e)
  {
    error = e.GetDescription();
    return false;
  }
  catch (const itk::ExceptionObject &e)
  {
    return fail(std::string("cannot be read: ") + e.GetDescription());
  }
  return true;
}

bool
SyntheticVolume(vtkImageData *slices, const std::vector<int> &picks, vtkImageData *source, vtkMatrix4x4 *sourceIJKToRAS,
                const std::string &axis, vtkImageData *out, vtkMatrix4x4 *outIJKToRAS, std::string &error)
{
  auto fail = [&](const std::string &name, const std::string &problem) {
    error = name + ": " + problem;
    return false;
  };
  std::string problem;
  vtkDataArray *synthetic = SingleComponentScalars(slices, problem);
  if (!synthetic)
    return fail("synthetic slices", problem);
  const int *sliceDims = slices->GetDimensions();
  const int size = sliceDims[0], count = sliceDims[2];
  if (sliceDims[1] != size)
    return fail("synthetic slices", "images of " + std::to_string(size) + " x " + std::to_string(sliceDims[1]) +
                                      " pixels; a model's images are square");
  std::vector<int> order = picks;
  if (order.empty())
    for (int k = 0; k < count; ++k)
      order.push_back(k);
  for (int pick : order)
    if (pick < 0 || pick >= count)
      return fail("picks", "image " + std::to_string(pick) + " is not among the " + std::to_string(count) +
                             " synthetic images");
  if (!SingleComponentScalars(source, problem))
    return fail("source volume", problem);
  if (!out || !outIJKToRAS || out == source || out == slices)
    return fail("synthetic volume", "needs an image and a matrix of its own to write into");
  const std::string pixelType = PixelTypeName(source->GetScalarType());
  if (pixelType.empty())
    return fail("source volume", std::string("voxels of type ") + source->GetScalarTypeAsString() +
                                   " (char, unsigned char, short, unsigned short, int, unsigned int, float, double)");
  SliceAxis sliceAxis;
  if (axis == "axial")
    sliceAxis = SliceAxis::Axial;
  else if (axis == "coronal")
    sliceAxis = SliceAxis::Coronal;
  else if (axis == "sagittal")
    sliceAxis = SliceAxis::Sagittal;
  else
    return fail("axis", "'" + axis + "' is not axial, coronal or sagittal");
  Geometry::SpacingType spacing;
  Geometry::DirectionType direction;
  Geometry::PointType origin;
  if (!ItkGeometry(sourceIJKToRAS, spacing, direction, origin, problem))
    return fail("source volume", problem);
  const int *sourceDims = source->GetDimensions();
  const Geometry::SizeType sourceSize = { { static_cast<itk::SizeValueType>(sourceDims[0]),
                                            static_cast<itk::SizeValueType>(sourceDims[1]),
                                            static_cast<itk::SizeValueType>(sourceDims[2]) } };

  // The source's cut, with one slice per pick: slice n (in SliceSet's reading order) is image order[n].
  SliceFrame frame = SliceFrameOf(direction, sourceSize, spacing, sliceAxis, size);
  frame.nn = static_cast<int>(order.size());
  const PixelSamples columns = SamplesAlong(
    frame.nu, size, [&](double u) { return frame.PixelColumn(u); },
    [&](int c) { return frame.InField(frame.VoxelU(c), 0.0); });
  const PixelSamples rows = SamplesAlong(
    frame.nv, size, [&](double v) { return frame.PixelRow(v); },
    [&](int r) { return frame.InField(0.0, frame.VoxelV(r)); });

  const size_t plane = static_cast<size_t>(size) * size;
  std::vector<double> images(order.size() * plane);
  for (size_t n = 0; n < order.size(); ++n)
    for (size_t i = 0; i < plane; ++i)
    {
      const double value = synthetic->GetComponent(static_cast<vtkIdType>(order[n] * plane + i), 0);
      if (!std::isfinite(value))
        return fail("synthetic slices", "image " + std::to_string(order[n]) + " has a NaN or infinite pixel");
      images[n * plane + i] = value;
    }

  int outDims[3] = { sourceDims[0], sourceDims[1], sourceDims[2] };
  outDims[frame.axis_n] = frame.nn;
  out->SetDimensions(outDims);
  out->SetOrigin(0.0, 0.0, 0.0);
  out->SetSpacing(1.0, 1.0, 1.0);
  out->AllocateScalars(source->GetScalarType(), 1);
  const size_t stride[3] = { 1, static_cast<size_t>(outDims[0]), static_cast<size_t>(outDims[0]) * outDims[1] };
  ForPixelType(pixelType, [&](auto pixel) {
    using T = decltype(pixel);
    T *voxels = static_cast<T *>(out->GetScalarPointer());
    for (int n = 0; n < frame.nn; ++n)
    {
      const double *image = images.data() + n * plane;
      for (int v = 0; v < frame.nv; ++v)
      {
        const double *top = image + static_cast<size_t>(rows.first[v]) * size;
        const double *bottom = image + static_cast<size_t>(rows.second[v]) * size;
        const double tv = rows.weight[v];
        for (int u = 0; u < frame.nu; ++u)
        {
          const int c0 = columns.first[u], c1 = columns.second[u];
          const double tu = columns.weight[u];
          const double value = (1 - tv) * ((1 - tu) * top[c0] + tu * top[c1]) +
                               tv * ((1 - tu) * bottom[c0] + tu * bottom[c1]);
          voxels[frame.ArrayU(u) * stride[frame.axis_u] + frame.ArrayV(v) * stride[frame.axis_v] +
                 frame.ArrayN(n) * stride[frame.axis_n]] = VoxelValue<T>(value);
        }
      }
    }
  });
  out->Modified();
  outIJKToRAS->DeepCopy(sourceIJKToRAS);
  return true;
}

} // namespace medgen
