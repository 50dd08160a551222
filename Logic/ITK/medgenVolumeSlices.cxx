#include "medgenVolumeSlices.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "itkGDCMImageIO.h"
#include "itkGDCMSeriesFileNames.h"
#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageIOFactory.h"
#include "itkImageSeriesReader.h"
#include "itksys/SystemTools.hxx"

#include <zlib.h>

namespace medgen
{

// Percentiles for the background rule are estimated on evenly spaced voxels: enough for a threshold, and a CT of
// 50 M voxels need not be copied whole.
static const size_t kBackgroundSampleMax = 4u << 20;

[[noreturn]] static void
Fail(const std::string &path, const std::string &problem)
{
  throw VolumeError(__FILE__, __LINE__, path + ": " + problem);
}

void
CheckSingleChannel(const std::string &name, const itk::ImageIOBase &io)
{
  for (unsigned int d = 3; d < io.GetNumberOfDimensions(); ++d)
    if (io.GetDimensions(d) > 1)
    {
      std::ostringstream msg;
      msg << "is a " << io.GetNumberOfDimensions() << "D image (dimension " << d + 1 << " has "
          << io.GetDimensions(d) << " entries); MedGen takes 2D or 3D single-channel volumes";
      Fail(name, msg.str());
    }
  if (io.GetNumberOfComponents() != 1)
  {
    std::ostringstream msg;
    msg << "has " << io.GetNumberOfComponents() << " components per voxel ("
        << itk::ImageIOBase::GetPixelTypeAsString(io.GetPixelType()) << "); MedGen takes single-channel images";
    Fail(name, msg.str());
  }
}

// The bytes a file holds once decompressed. ITK 5.2's NIfTI reader does not notice a gzip stream that ends early or
// fails its CRC (it reads garbage), so a compressed file is decompressed to its end, in chunks, nothing kept.
static uint64_t
CompleteBytes(const std::string &path, bool gz)
{
  if (!gz)
    return itksys::SystemTools::FileLength(path);
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file)
    Fail(path, "cannot be opened");
  std::vector<char> chunk(1 << 17);
  uint64_t bytes = 0;
  int got;
  while ((got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0)
    bytes += static_cast<uint64_t>(got);
  int code = Z_OK;
  std::string why = gzerror(file, &code);
  if (why.rfind(path + ": ", 0) == 0) // zlib names the file itself
    why.erase(0, path.size() + 2);
  gzclose(file);
  if (got < 0 || code != Z_OK) // Z_BUF_ERROR: the stream ended early; Z_DATA_ERROR: corrupt data or CRC
    Fail(path, "truncated or damaged compressed data (" + why + ")");
  return bytes;
}

void
CheckComplete(const std::string &path)
{
  const std::string name = itksys::SystemTools::LowerCase(path);
  const bool gz = itksys::SystemTools::StringEndsWith(name, ".nii.gz");
  if (!gz && !itksys::SystemTools::StringEndsWith(name, ".nii"))
    return;
  const uint64_t bytes = CompleteBytes(path, gz);
  // The NIfTI-1 header's own sizes (ITK reports scaled integer files as float, so its byte count would be wrong):
  // dim[0..7] (int16 at byte 40), bitpix (int16 at 72), vox_offset (float at 108), in the byte order sizeof_hdr
  // = 348 shows. NIfTI-2 headers (540 bytes) are left to ITK.
  unsigned char h[348];
  gzFile file = gzopen(path.c_str(), "rb"); // plain files read as they are
  const bool whole = file && gzread(file, h, sizeof h) == static_cast<int>(sizeof h);
  if (file)
    gzclose(file);
  if (!whole)
    Fail(path, "truncated: shorter than a NIfTI-1 header");
  const bool little = h[0] == 0x5c && h[1] == 0x01 && !h[2] && !h[3];
  const bool big = !h[0] && !h[1] && h[2] == 0x01 && h[3] == 0x5c;
  if (!little && !big)
    return;
  auto field = [&](int at, int size) {
    uint32_t v = 0;
    for (int i = 0; i < size; ++i)
      v |= static_cast<uint32_t>(h[at + (little ? i : size - 1 - i)]) << 8 * i;
    return v;
  };
  const int rank = static_cast<int16_t>(field(40, 2));
  const int bitpix = static_cast<int16_t>(field(72, 2));
  const uint32_t offsetBits = field(108, 4);
  float voxOffset;
  std::memcpy(&voxOffset, &offsetBits, 4);
  if (rank < 1 || rank > 7 || bitpix <= 0 || !(voxOffset >= 0.0f && voxOffset < 1e12f))
    Fail(path, "damaged NIfTI header (dim[0] " + std::to_string(rank) + ", bitpix " + std::to_string(bitpix) +
                 ", vox_offset " + std::to_string(voxOffset) + ")");
  uint64_t voxels = 1;
  std::ostringstream extent;
  for (int d = 1; d <= rank; ++d)
  {
    const int n = static_cast<int16_t>(field(40 + 2 * d, 2));
    voxels *= static_cast<uint64_t>(std::max(n, 1));
    extent << (d > 1 ? "x" : "") << n;
  }
  const uint64_t need = static_cast<uint64_t>(voxOffset) + voxels * static_cast<uint64_t>(bitpix) / 8;
  if (bytes < need)
  {
    std::ostringstream msg;
    msg << "truncated: the " << extent.str() << " voxels need " << need << " bytes with the header, the file holds "
        << bytes;
    Fail(path, msg.str());
  }
}

// Reads path as float voxels; pixelType receives the file's component type (ITK's name, e.g. "short").
static VolumeType::Pointer
ReadVolume(const std::string &path, std::string &pixelType)
{
  try
  {
    if (itksys::SystemTools::FileIsDirectory(path))
    {
      auto names = itk::GDCMSeriesFileNames::New();
      names->SetUseSeriesDetails(true);
      names->SetDirectory(path);
      const auto &uids = names->GetSeriesUIDs();
      if (uids.empty())
        Fail(path, "is a directory without a DICOM series");
      const std::vector<std::string> files = names->GetFileNames(uids.front());
      auto io = itk::GDCMImageIO::New();
      io->SetFileName(files.front());
      io->ReadImageInformation();
      CheckSingleChannel(path, *io);
      pixelType = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
      auto reader = itk::ImageSeriesReader<VolumeType>::New();
      reader->SetImageIO(io);
      reader->SetFileNames(files);
      reader->Update();
      return reader->GetOutput();
    }
    if (!itksys::SystemTools::FileExists(path))
      Fail(path, "does not exist");
    itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
    // A compressed file cut inside its header: say so rather than "not an image".
    const bool gz = itksys::SystemTools::StringEndsWith(itksys::SystemTools::LowerCase(path), ".gz");
    if (!io)
    {
      if (gz)
        CompleteBytes(path, true);
      Fail(path, "cannot be read: not an image, or a damaged or truncated file (no ITK reader recognises it)");
    }
    io->SetFileName(path);
    try
    {
      io->ReadImageInformation();
    }
    catch (const itk::ExceptionObject &)
    {
      if (gz)
        CompleteBytes(path, true);
      throw;
    }
    // The header first: a 4D or colour file is refused before its whole stream is checked.
    CheckSingleChannel(path, *io);
    CheckComplete(path);
    pixelType = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
    auto reader = itk::ImageFileReader<VolumeType>::New();
    reader->SetImageIO(io);
    reader->SetFileName(path);
    reader->Update();
    return reader->GetOutput();
  }
  catch (const VolumeError &)
  {
    throw;
  }
  catch (const itk::ExceptionObject &e)
  {
    Fail(path, std::string("cannot be read: ") + e.GetDescription());
  }
}

// The array axis that runs along each patient axis (the permutation maximizing the summed |cosine|) and whether
// it points along (+1) or against (-1) that patient axis.
static void
MatchAxes(const VolumeType::DirectionType &dir, int array_axis[3], int sign[3])
{
  static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
  double best = -1.0;
  for (const auto &perm : perms)
  {
    double sum = 0.0;
    for (int p = 0; p < 3; ++p)
      sum += std::fabs(dir(p, perm[p]));
    if (sum > best + 1e-12)
    {
      best = sum;
      for (int p = 0; p < 3; ++p)
        array_axis[p] = perm[p];
    }
  }
  for (int p = 0; p < 3; ++p)
    sign[p] = dir(p, array_axis[p]) < 0.0 ? -1 : 1;
}

SliceFrame
SliceFrameOf(const VolumeType::DirectionType &direction, const VolumeType::SizeType &size,
             const VolumeType::SpacingType &spacing, SliceAxis axis, int outputSize)
{
  // Patient axes (LPS index, wanted sign) for columns, rows and slice normal; see the header's convention.
  int col_p = 0, col_s = 1, row_p = 1, row_s = 1, nrm_p = 2;
  if (axis == SliceAxis::Coronal)
    row_p = 2, row_s = -1, nrm_p = 1;
  else if (axis == SliceAxis::Sagittal)
    col_p = 1, row_p = 2, row_s = -1, nrm_p = 0;
  int array_axis[3], sign[3];
  MatchAxes(direction, array_axis, sign);
  SliceFrame frame;
  frame.axis_u = array_axis[col_p];
  frame.axis_v = array_axis[row_p];
  frame.axis_n = array_axis[nrm_p];
  frame.flip_u = sign[col_p] * col_s < 0;
  frame.flip_v = sign[row_p] * row_s < 0;
  frame.flip_n = sign[nrm_p] < 0;
  frame.nu = static_cast<int>(size[frame.axis_u]);
  frame.nv = static_cast<int>(size[frame.axis_v]);
  frame.nn = static_cast<int>(size[frame.axis_n]);
  frame.su = spacing[frame.axis_u];
  frame.sv = spacing[frame.axis_v];
  frame.size = outputSize;
  // Fit the slice's physical extent into size x size, centred; the short side is padded, never stretched.
  frame.mm_per_pixel = std::max(frame.nu * frame.su, frame.nv * frame.sv) / outputSize;
  return frame;
}

template <typename TVector>
static std::string
Triple(const TVector &v, const char *separator)
{
  std::ostringstream text;
  text << v[0] << separator << v[1] << separator << v[2];
  return text.str();
}

static std::string
DirectionText(const VolumeType::DirectionType &d)
{
  std::ostringstream text;
  for (int r = 0; r < 3; ++r)
    text << (r ? "; " : "(") << d(r, 0) << ", " << d(r, 1) << ", " << d(r, 2);
  text << ")";
  return text.str();
}

// Refuses a label map that is not aligned voxel for voxel with its volume (sizes equal; spacing, origin and
// direction within 1e-4 of the spacing) or that holds anything but class numbers.
static void
CheckLabelMap(const VolumeType *volume, const std::string &volumeName, const VolumeType *labelMap,
              const std::string &name)
{
  const auto size = volume->GetLargestPossibleRegion().GetSize();
  const auto labelSize = labelMap->GetLargestPossibleRegion().GetSize();
  const auto spacing = volume->GetSpacing(), labelSpacing = labelMap->GetSpacing();
  const auto origin = volume->GetOrigin(), labelOrigin = labelMap->GetOrigin();
  const auto direction = volume->GetDirection(), labelDirection = labelMap->GetDirection();
  const std::string against = ", but the volume " + volumeName + " has ";
  if (size != labelSize)
    Fail(name, "size " + Triple(labelSize, " x ") + " voxels" + against + Triple(size, " x "));
  for (int d = 0; d < 3; ++d)
    if (std::fabs(spacing[d] - labelSpacing[d]) > 1e-4 * spacing[d])
      Fail(name, "spacing " + Triple(labelSpacing, " x ") + " mm" + against + Triple(spacing, " x ") + " mm");
  const double tolerance = 1e-4 * std::min({ spacing[0], spacing[1], spacing[2] });
  for (int d = 0; d < 3; ++d)
    if (std::fabs(origin[d] - labelOrigin[d]) > tolerance)
      Fail(name, "origin (" + Triple(labelOrigin, ", ") + ") mm" + against + "(" + Triple(origin, ", ") + ") mm");
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      if (std::fabs(direction(r, c) - labelDirection(r, c)) > 1e-4)
        Fail(name, "direction " + DirectionText(labelDirection) + against + DirectionText(direction));
  const float *labels = labelMap->GetBufferPointer();
  const size_t voxels = labelMap->GetLargestPossibleRegion().GetNumberOfPixels();
  for (size_t i = 0; i < voxels; ++i)
  {
    const float v = labels[i];
    const char *problem = !(v == std::floor(v)) ? "a non-integer label value"
                          : v < 0               ? "a negative label value"
                          : v >= MG_MAX_CLASSES ? "a label value above the largest class number"
                                                : nullptr;
    if (problem)
    {
      std::ostringstream msg;
      msg << "has " << problem << " (" << v << " at linear index " << i
          << "); label values must be integers from 0 (background) to " << MG_MAX_CLASSES - 1;
      Fail(name, msg.str());
    }
  }
}

SliceSet::SliceSet(const SliceOptions &options)
  : m_Options(options)
{
  if (options.size < 1)
    throw VolumeError(__FILE__, __LINE__, "SliceOptions: size must be positive");
}

double
SliceSet::Percentile(std::vector<float> &values, double p)
{
  const double pos = std::min(std::max(p, 0.0), 100.0) / 100.0 * (values.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  std::nth_element(values.begin(), values.begin() + lo, values.end());
  const double a = values[lo];
  if (lo + 1 >= values.size())
    return a;
  const double b = *std::min_element(values.begin() + lo + 1, values.end());
  return a + (pos - lo) * (b - a);
}

int
SliceSet::AddVolume(const std::string &path, const std::string &className, const std::string &labelMapPath)
{
  std::string pixelType, labelPixelType;
  VolumeType::Pointer volume = ReadVolume(path, pixelType);
  VolumeType::Pointer labelMap = labelMapPath.empty() ? nullptr : ReadVolume(labelMapPath, labelPixelType);
  return AddImage(volume, path, pixelType, className, labelMap, labelMapPath);
}

int
SliceSet::AddImage(const VolumeType *volume, const std::string &path, const std::string &pixelType,
                   const std::string &className, const VolumeType *labelMap, const std::string &labelMapName)
{
  if (!volume)
    Fail(path, "no volume given");
  const bool labelled = !className.empty();
  if (labelled && labelMap)
    Fail(path, "has both a class name ('" + className + "') and a label map; give one or the other");
  const Kind kind = labelMap ? Kind::LabelMap : labelled ? Kind::Named : Kind::Unlabelled;
  auto kind_text = [](Kind k) {
    return k == Kind::LabelMap ? "a label map" : k == Kind::Named ? "a class name" : "no class";
  };
  if (m_Kind != Kind::Unknown && kind != m_Kind)
    Fail(path, std::string("has ") + kind_text(kind) + ", but the volumes before it have " + kind_text(m_Kind) +
                 " (one kind per set)");
  int label = -1;
  if (labelled)
  {
    const auto found = std::find(m_ClassNames.begin(), m_ClassNames.end(), className);
    label = static_cast<int>(found - m_ClassNames.begin());
    if (label >= MG_MAX_CLASSES)
      Fail(path, "class '" + className + "' is one more than the " + std::to_string(MG_MAX_CLASSES) +
                   " classes MedGen takes");
  }
  const auto region = volume->GetLargestPossibleRegion();
  const auto dims = region.GetSize();
  const size_t voxels = region.GetNumberOfPixels();
  const float *data = volume->GetBufferPointer();
  if (voxels == 0)
    Fail(path, "is empty");

  float lo = data[0], hi = data[0];
  for (size_t i = 0; i < voxels; ++i)
  {
    if (!std::isfinite(data[i]))
    {
      std::ostringstream msg;
      msg << "has a " << (std::isnan(data[i]) ? "NaN" : "infinite") << " voxel (linear index " << i << ")";
      Fail(path, msg.str());
    }
    lo = std::min(lo, data[i]);
    hi = std::max(hi, data[i]);
  }
  if (lo == hi)
  {
    std::ostringstream msg;
    msg << "is constant (every voxel is " << lo << "): nothing to learn from";
    Fail(path, msg.str());
  }
  if (labelMap)
    CheckLabelMap(volume, path, labelMap, labelMapName.empty() ? path + "'s label map" : labelMapName);

  std::vector<float> sample;
  const size_t step = std::max<size_t>(1, voxels / kBackgroundSampleMax);
  for (size_t i = 0; i < voxels; i += step)
    sample.push_back(data[i]);
  const double background = Percentile(sample, m_Options.background_percentile);
  const double bright = Percentile(sample, 99.0);
  const double threshold = background + m_Options.background_fraction * (bright - background);

  const SliceFrame frame = SliceFrameOf(volume->GetDirection(), dims, volume->GetSpacing(), m_Options.axis,
                                       m_Options.size);
  const size_t stride[3] = { 1, dims[0], dims[0] * dims[1] };
  const int ax_u = frame.axis_u, ax_v = frame.axis_v, ax_n = frame.axis_n;
  const int nu = frame.nu, nv = frame.nv, nn = frame.nn;
  const int size = m_Options.size;
  const double mm_per_pixel = frame.mm_per_pixel;
  const size_t plane = static_cast<size_t>(size) * size;
  int kept = 0;
  std::vector<int> label_voxels(MG_MAX_CLASSES);
  for (int n = 0; n < nn; ++n)
  {
    const int slice_index = frame.ArrayN(n);
    const float *base = data + slice_index * stride[ax_n];
    auto voxel = [&](int u, int v) {
      return base[frame.ArrayU(u) * stride[ax_u] + frame.ArrayV(v) * stride[ax_v]];
    };
    size_t foreground = 0;
    for (int v = 0; v < nv; ++v)
      for (int u = 0; u < nu; ++u)
        foreground += voxel(u, v) > threshold;
    if (foreground < m_Options.min_foreground * nu * nv)
      continue;

    const size_t at = m_Raw.size();
    m_Raw.resize(at + plane);
    m_InField.resize(at + plane);
    for (int r = 0; r < size; ++r)
    {
      const double fv = frame.VoxelV(r);
      for (int c = 0; c < size; ++c)
      {
        const double fu = frame.VoxelU(c);
        float value = static_cast<float>(background);
        uint8_t inside = frame.InField(fu, fv);
        if (inside)
        {
          const double cu = std::min(std::max(fu, 0.0), nu - 1.0), cv = std::min(std::max(fv, 0.0), nv - 1.0);
          const int u0 = std::min(static_cast<int>(cu), nu - 1), v0 = std::min(static_cast<int>(cv), nv - 1);
          const int u1 = std::min(u0 + 1, nu - 1), v1 = std::min(v0 + 1, nv - 1);
          const double tu = cu - u0, tv = cv - v0;
          const double top = (1 - tu) * voxel(u0, v0) + tu * voxel(u1, v0);
          const double bottom = (1 - tu) * voxel(u0, v1) + tu * voxel(u1, v1);
          value = static_cast<float>((1 - tv) * top + tv * bottom);
        }
        m_Raw[at + static_cast<size_t>(r) * size + c] = value;
        m_InField[at + static_cast<size_t>(r) * size + c] = inside;
      }
    }
    if (labelMap)
    {
      // The highest non-zero label value covering label_min_voxels of this slice's voxels, else background (0).
      const float *label_base = labelMap->GetBufferPointer() + slice_index * stride[ax_n];
      std::fill(label_voxels.begin(), label_voxels.end(), 0);
      for (int v = 0; v < nv; ++v)
        for (int u = 0; u < nu; ++u)
          ++label_voxels[static_cast<int>(label_base[u * stride[ax_u] + v * stride[ax_v]])];
      int value = MG_MAX_CLASSES - 1;
      while (value > 0 && label_voxels[value] < m_Options.label_min_voxels)
        --value;
      m_LabelValues.push_back(value);
    }
    m_Labels.push_back(label);
    m_Sources.push_back({ path, slice_index, label, mm_per_pixel });
    ++kept;
  }
  if (kept == 0)
    return 0;
  m_Kind = kind;
  if (labelled && label == static_cast<int>(m_ClassNames.size()))
    m_ClassNames.push_back(className); // a class is known once it has slices
  if (labelMap)
    NumberLabelMapClasses();
  m_PixelType = m_PixelType.empty() || m_PixelType == pixelType ? pixelType : "float";
  return kept;
}

void
SliceSet::NumberLabelMapClasses()
{
  std::vector<int> class_of_value(MG_MAX_CLASSES, -1);
  for (const int32_t value : m_LabelValues)
    class_of_value[value] = 0;
  m_ClassNames.clear();
  for (int value = 0; value < MG_MAX_CLASSES; ++value)
    if (class_of_value[value] == 0)
    {
      class_of_value[value] = static_cast<int>(m_ClassNames.size());
      m_ClassNames.push_back(value ? "label " + std::to_string(value) : "background");
    }
  for (size_t i = 0; i < m_LabelValues.size(); ++i)
    m_Labels[i] = m_Sources[i].label = class_of_value[m_LabelValues[i]];
}

const mg_dataset &
SliceSet::Dataset()
{
  if (m_Sources.empty())
    throw VolumeError(__FILE__, __LINE__, "SliceSet: no foreground slice in the volumes added");
  double low = m_Options.window_low, high = m_Options.window_high;
  if (m_Options.normalization == Normalization::Percentiles)
  {
    std::vector<float> values;
    for (size_t i = 0; i < m_Raw.size(); ++i)
      if (m_InField[i])
        values.push_back(m_Raw[i]);
    low = Percentile(values, m_Options.low_percentile);
    high = Percentile(values, m_Options.high_percentile);
  }
  if (!(high > low))
  {
    std::ostringstream msg;
    msg << "SliceSet: intensity range [" << low << ", " << high << "] is empty";
    throw VolumeError(__FILE__, __LINE__, msg.str());
  }
  const double offset = 0.5 * (low + high), scale = 0.5 * (high - low);
  m_Images.resize(m_Raw.size());
  for (size_t i = 0; i < m_Raw.size(); ++i)
    m_Images[i] = static_cast<float>(std::min(std::max((m_Raw[i] - offset) / scale, -1.0), 1.0));
  m_ClassNamePointers.clear();
  for (const std::string &name : m_ClassNames)
    m_ClassNamePointers.push_back(name.c_str());
  const int num_classes = static_cast<int>(m_ClassNames.size());
  m_Dataset = mg_dataset{};
  m_Dataset.count = Count();
  m_Dataset.channels = 1;
  m_Dataset.size = m_Options.size;
  m_Dataset.images = m_Images.data();
  m_Dataset.labels = num_classes ? m_Labels.data() : nullptr;
  m_Dataset.num_classes = num_classes;
  m_Dataset.class_names = num_classes ? m_ClassNamePointers.data() : nullptr;
  m_Dataset.norm_offset = offset;
  m_Dataset.norm_scale = scale;
  return m_Dataset;
}

} // namespace medgen
