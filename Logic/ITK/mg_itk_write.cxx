// mg_itk.h's writing half: synthetic stacks as NIfTI (through mg_nifti_write, because ITK 5.2's NIfTI writer stores
// no descrip), NRRD and MetaImage (itk::ImageFileWriter) or a DICOM series (GDCMImageIO), each marked synthetic and
// written atomically (medgenStagedOutput.h).
#include "mg_itk.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>


#include "gdcmUIDGenerator.h"
#include "itkGDCMImageIO.h"
#include "itkImageFileWriter.h"
#include "itkImageSeriesWriter.h"
#include "itkMedGenImageSource.h"
#include "itkMetaDataObject.h"
#include "itksys/Directory.hxx"
#include "itksys/SystemTools.hxx"
#include "medgenPixelType.h"
#include "medgenStagedOutput.h"
#include "mg_io.h"
#include "mg_itk_guard.h"

namespace
{

using KeyValues = std::vector<std::pair<std::string, std::string>>;

bool
EndsWith(const std::string &s, const char *suffix)
{
  const size_t n = std::strlen(suffix);
  return s.size() >= n && itksys::SystemTools::LowerCase(s.substr(s.size() - n)) == suffix;
}

// The NIfTI datatype of a pixel type.
template <typename T>
mg_nifti_datatype
NiftiDatatype()
{
  if constexpr (std::is_same_v<T, unsigned char>)
    return MG_NIFTI_UINT8;
  else if constexpr (std::is_same_v<T, signed char>)
    return MG_NIFTI_INT8;
  else if constexpr (std::is_same_v<T, unsigned short>)
    return MG_NIFTI_UINT16;
  else if constexpr (std::is_same_v<T, short>)
    return MG_NIFTI_INT16;
  else if constexpr (std::is_same_v<T, unsigned int>)
    return MG_NIFTI_UINT32;
  else if constexpr (std::is_same_v<T, int>)
    return MG_NIFTI_INT32;
  else if constexpr (std::is_same_v<T, float>)
    return MG_NIFTI_FLOAT32;
  else
    return MG_NIFTI_FLOAT64;
}

std::string
Format(const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 1, 2)))
#endif
  ;

std::string
Format(const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

const char *
Text(const char *s, const char *fallback)
{
  return s && *s ? s : fallback;
}

bool
IsDiffusion(const mg_itk_synthetic_info &info)
{
  return std::strcmp(Text(info.model_type, ""), "gan") != 0;
}

// Every field, in the keys itkMedGenImageSource.h lists: NRRD/MetaImage key-value pairs and DICOM's ImageComments.
KeyValues
SyntheticFields(const mg_itk_synthetic_info &info)
{
  KeyValues kv{ { "MedGen", "synthetic" } };
  if (info.model_file && *info.model_file)
    kv.emplace_back("MedGen_Model", info.model_file);
  kv.emplace_back("MedGen_ModelFingerprint", info.model_fingerprint);
  kv.emplace_back("MedGen_ModelType", Text(info.model_type, "unknown"));
  kv.emplace_back("MedGen_Sampler", Text(info.sampler, IsDiffusion(info) ? "unknown" : "gan"));
  kv.emplace_back("MedGen_Steps", std::to_string(info.steps));
  kv.emplace_back("MedGen_Seed", std::to_string(info.seed));
  kv.emplace_back("MedGen_Class", Text(info.class_name, "none"));
  kv.emplace_back("MedGen_Guidance", Format("%.15g", info.guidance));
  kv.emplace_back("MedGen_Truncation", Format("%.15g", info.truncation));
  if (info.weights && *info.weights)
    kv.emplace_back("MedGen_Weights", info.weights);
  return kv;
}

// The sampling fields compactly ("ddim/50 seed 7 class 2 guid 2"): NIfTI's descrip (79 characters in all, after
// the marker and the fingerprint) and DICOM's SeriesDescription (64).
std::string
CompactFields(const mg_itk_synthetic_info &info)
{
  std::string s = IsDiffusion(info) ? Format("%s/%d seed %llu", Text(info.sampler, "?"), info.steps, info.seed)
                                    : Format("gan seed %llu", info.seed);
  if (info.class_name && *info.class_name)
    s += Format(" class %s", info.class_name);
  if (IsDiffusion(info) && info.guidance != 1.0)
    s += Format(" guid %g", info.guidance);
  if (!IsDiffusion(info) && info.truncation > 0)
    s += Format(" trunc %g", info.truncation);
  return s;
}

template <typename TPixel>
typename itk::Image<TPixel, 3>::Pointer
MakeStack(const float *images, int count, int size, double mm_per_pixel)
{
  using ImageType = itk::Image<TPixel, 3>;
  auto image = ImageType::New();
  typename ImageType::SizeType extent;
  extent[0] = extent[1] = static_cast<itk::SizeValueType>(size);
  extent[2] = static_cast<itk::SizeValueType>(count);
  image->SetRegions(typename ImageType::RegionType(extent));
  image->Allocate();
  typename ImageType::SpacingType spacing;
  spacing[0] = spacing[1] = mm_per_pixel;
  spacing[2] = 1.0;
  image->SetSpacing(spacing);
  // Engine images are top row first, column fastest: ITK's buffer order of index (x, y, slice).
  TPixel *out = image->GetBufferPointer();
  const size_t n = static_cast<size_t>(count) * size * size;
  for (size_t i = 0; i < n; ++i)
    out[i] = itk::medgen_detail::ToPixel<TPixel>(static_cast<double>(images[i]));
  return image;
}

// NRRD or MetaImage (one file, or .nhdr/.mhd with their data file) with every field as a key-value pair.
template <typename TPixel>
void
WriteKeyValueImage(const std::string &file, const float *images, int count, int size, double mm,
                   const KeyValues &fields)
{
  auto image = MakeStack<TPixel>(images, count, size, mm);
  itk::MetaDataDictionary &dict = image->GetMetaDataDictionary();
  for (const auto &kv : fields)
    itk::EncapsulateMetaData<std::string>(dict, kv.first, kv.second);
  auto writer = itk::ImageFileWriter<itk::Image<TPixel, 3>>::New();
  writer->SetInput(image);
  writer->SetFileName(file);
  writer->UseCompressionOn();
  writer->Update();
}

std::string
Now(const char *fmt)
{
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

template <typename TPixel>
void
WriteDicomSeries(const std::string &dir, const float *images, int count, int size, double mm,
                 const mg_itk_synthetic_info &info)
{
  using Image3 = itk::Image<TPixel, 3>;
  using Image2 = itk::Image<TPixel, 2>;
  auto image = MakeStack<TPixel>(images, count, size, mm);

  std::string comments = "MedGen synthetic image, not for diagnosis.";
  for (const auto &kv : SyntheticFields(info))
    if (kv.first != "MedGen")
      comments += " " + kv.first + "=" + kv.second + ";";
  gdcm::UIDGenerator uids;
  const std::string study = uids.Generate(), series = uids.Generate(), frame = uids.Generate();
  const std::string date = Now("%Y%m%d"), time_of_day = Now("%H%M%S");
  KeyValues tags = {
    { "0008|0008", "DERIVED\\SECONDARY\\SYNTHETIC" },
    { "0008|0016", "1.2.840.10008.5.1.4.1.1.7" }, // Secondary Capture Image Storage
    { "0008|0020", date },
    { "0008|0021", date },
    { "0008|0030", time_of_day },
    { "0008|0031", time_of_day },
    { "0008|0050", "" },
    { "0008|0060", "OT" },
    { "0008|0064", "SYN" }, // ConversionType: synthetic image
    { "0008|0070", "MedGen" },
    { "0008|0090", "" },
    { "0008|1030", "SYNTHETIC MedGen images" },
    { "0008|103e", ("SYNTHETIC MedGen " + CompactFields(info)).substr(0, 64) },
    { "0010|0010", "SYNTHETIC^MEDGEN" },
    { "0010|0020", "SYNTHETIC" },
    { "0010|0030", "" },
    { "0010|0040", "" },
    { "0018|0050", "1" },
    { "0018|1020", "MedGen " MEDGEN_VERSION_STRING },
    { "0020|000d", study },
    { "0020|000e", series },
    { "0020|0010", "MEDGEN" },
    { "0020|0011", "1" },
    { "0020|0020", "L\\P" },
    { "0020|0037", "1\\0\\0\\0\\1\\0" },
    { "0020|0052", frame },
    { "0020|4000", comments },
    { "0028|0004", "MONOCHROME2" },
    { "0028|0301", "NO" },
  };
  if (std::is_floating_point<TPixel>::value) // stored as 16-bit integers whose rescale covers the values' range
  {
    const TPixel *p = image->GetBufferPointer();
    const size_t n = static_cast<size_t>(count) * size * size;
    double lo = static_cast<double>(p[0]), hi = lo;
    for (size_t i = 1; i < n; ++i)
      lo = std::min(lo, static_cast<double>(p[i])), hi = std::max(hi, static_cast<double>(p[i]));
    // DS values hold 16 characters (9 digits): the slope is fitted around the intercept as written, and 30000 of
    // the 32767 levels either side leave room for the slope's own rounding.
    const std::string intercept = Format("%.9g", (hi + lo) / 2);
    const double reach = std::max(hi - std::stod(intercept), std::stod(intercept) - lo);
    const std::string slope = Format("%.9g", reach > 0 ? reach / 30000.0 : 1.0);
    tags.insert(tags.end(), { { "0028|0100", "16" }, { "0028|0101", "16" }, { "0028|0102", "15" },
                              { "0028|0103", "1" }, { "0028|1052", intercept }, { "0028|1053", slope },
                              { "0028|1054", "US" } });
  }

  std::vector<itk::MetaDataDictionary> dicts(static_cast<size_t>(count));
  std::vector<itk::MetaDataDictionary *> dictPointers;
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i)
  {
    itk::MetaDataDictionary &d = dicts[static_cast<size_t>(i)];
    for (const auto &kv : tags)
      itk::EncapsulateMetaData<std::string>(d, kv.first, kv.second);
    itk::EncapsulateMetaData<std::string>(d, "0008|0018", uids.Generate());
    itk::EncapsulateMetaData<std::string>(d, "0020|0013", std::to_string(i + 1));
    itk::EncapsulateMetaData<std::string>(d, "0020|0032", Format("0\\0\\%d", i));
    dictPointers.push_back(&d);
    names.push_back(dir + Format("/slice-%05d.dcm", i));
  }
  auto io = itk::GDCMImageIO::New();
  io->KeepOriginalUIDOn(); // the UIDs above, not ones GDCM makes up per file
  auto writer = itk::ImageSeriesWriter<Image3, Image2>::New();
  writer->SetInput(image);
  writer->SetImageIO(io);
  writer->SetFileNames(names);
  writer->SetMetaDataDictionaryArray(&dictPointers);
  writer->Update();
}

template <typename TPixel>
void
WriteWithItk(mg_itk_format format, const std::string &path, const float *images, int count, int size, double mm,
             const mg_itk_synthetic_info &info)
{
  if (format == MG_ITK_DICOM)
  {
    std::string target = path;
    while (target.size() > 1 && target.back() == '/')
      target.pop_back();
    if (itksys::SystemTools::FileExists(target))
    {
      itksys::Directory d;
      if (!itksys::SystemTools::FileIsDirectory(target) || !d.Load(target) || d.GetNumberOfFiles() > 2)
        throw itk::MedGenError(__FILE__, __LINE__,
                               path + ": already exists and is not an empty directory; a DICOM series is "
                                      "written into a new directory");
    }
    medgen::StagedOutput staged(target);
    WriteDicomSeries<TPixel>(staged.Folder(), images, count, size, mm, info);
    staged.PublishFolder();
    return;
  }
  medgen::StagedOutput staged(path);
  WriteKeyValueImage<TPixel>(staged.StagedPath(), images, count, size, mm, SyntheticFields(info));
  staged.Publish();
}

mg_status
WriteNifti(const std::string &path, const float *images, int count, int size, double mm, mg_nifti_datatype datatype,
           const mg_itk_synthetic_info &info, char *err, size_t err_size)
{
  // The other formats' LPS identity direction, written as ITK writes it in NIfTI's RAS (x and y reversed), so that
  // the voxels keep their order and every pixel the same patient position. descrip holds the marker and what fits
  // of the fields; the comment extension holds every field as key=value lines.
  const int dim[3] = { size, size, count };
  const float pixdim[3] = { static_cast<float>(mm), static_cast<float>(mm), 1.0f };
  const std::string fields = std::string(info.model_fingerprint) + " " + CompactFields(info);
  std::string comment;
  for (const auto &kv : SyntheticFields(info))
    comment += kv.first + "=" + kv.second + "\n";
  mg_nifti_write_options options{ datatype, true, fields.c_str(), true, comment.c_str() };
  return mg_nifti_write(path.c_str(), images, dim, pixdim, &options, err, err_size);
}

} // namespace

mg_itk_format
mg_itk_format_of(const char *path)
{
  const std::string p = path ? path : "";
  if (!p.empty() && p.back() == '/')
    return MG_ITK_DICOM;
  if (EndsWith(p, ".nii") || EndsWith(p, ".nii.gz"))
    return MG_ITK_NIFTI;
  if (EndsWith(p, ".nrrd") || EndsWith(p, ".nhdr"))
    return MG_ITK_NRRD;
  if (EndsWith(p, ".mha") || EndsWith(p, ".mhd"))
    return MG_ITK_METAIMAGE;
  return MG_ITK_NOT_VOLUME;
}

bool
mg_itk_pixel_type_known(const char *name)
{
  return name && medgen::ForPixelType(name, [](auto) {});
}

mg_status
mg_itk_write_stack(const char *path, const float *images, int count, int size, double mm_per_pixel,
                   const char *pixel_type, const mg_itk_synthetic_info *info, char *err, size_t err_size)
{
  const std::string file = path ? path : "";
  if (file.empty() || !images || count < 1 || size < 1 || !info || !info->model_fingerprint)
  {
    std::snprintf(err, err_size, "%s: nothing to write (%s)", file.c_str(),
                  file.empty()  ? "no file name"
                  : !images     ? "no images"
                  : count < 1   ? "no images"
                  : size < 1    ? "image size below 1"
                                : "no model fingerprint: every synthetic stack names its model");
    return MG_ERR_INVALID_ARGUMENT;
  }
  if (!mg_itk_pixel_type_known(pixel_type))
  {
    std::snprintf(err, err_size,
                  "%s: pixel type \"%s\" cannot be written (unsigned char, char, unsigned short, short, unsigned int, "
                  "int, float, double)",
                  file.c_str(), pixel_type ? pixel_type : "");
    return MG_ERR_INVALID_ARGUMENT;
  }
  const mg_itk_format format = mg_itk_format_of(path);
  if (format == MG_ITK_NOT_VOLUME)
  {
    std::snprintf(err, err_size,
                  "%s: not a volume format MedGen writes (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, or DIR/ for a "
                  "DICOM series)",
                  file.c_str());
    return MG_ERR_INVALID_ARGUMENT;
  }
  const double mm = mm_per_pixel > 0 && std::isfinite(mm_per_pixel) ? mm_per_pixel : 1.0;
  return mg_itk_detail::Guard(file, MG_ERR_IO, err, err_size, [&] {
    mg_status status = MG_OK;
    medgen::ForPixelType(pixel_type, [&](auto zero) {
      using T = decltype(zero);
      if (format == MG_ITK_NIFTI)
        status = WriteNifti(file, images, count, size, mm, NiftiDatatype<T>(), *info, err, err_size);
      else
        WriteWithItk<T>(format, file, images, count, size, mm, *info);
    });
    return status;
  });
}

mg_status
mg_itk_fingerprint(const char *path, char *out, size_t out_size, char *err, size_t err_size)
{
  const std::string file = path ? path : "";
  FILE *f = std::fopen(file.c_str(), "rb");
  if (!f)
  {
    std::snprintf(err, err_size, "%s: cannot read: %s", file.c_str(), std::strerror(errno));
    return MG_ERR_IO;
  }
  // FNV-1a over the file's bytes: identifies the exact checkpoint a sample came from.
  uint64_t h = 14695981039346656037ull; // the 64-bit offset basis
  unsigned char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0)
    for (size_t i = 0; i < got; ++i)
      h = (h ^ buf[i]) * 1099511628211ull;
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed)
  {
    std::snprintf(err, err_size, "%s: read error", file.c_str());
    return MG_ERR_IO;
  }
  if (out_size < 25)
  {
    std::snprintf(err, err_size, "%s: fingerprint buffer of %zu bytes, need 25", file.c_str(), out_size);
    return MG_ERR_INVALID_ARGUMENT;
  }
  std::snprintf(out, out_size, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return MG_OK;
}
