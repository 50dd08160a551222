// mg_itk.h's 2D image reader: any 2D image ITK 5.2 reads, as float gray, for the formats Logic/IO's C readers do
// not know (mg_image_folder_read's fallback), and which folders of DICOM files hold 2D images rather than a series.
#include "mg_itk.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gdcmScanner.h"
#include "itkGDCMImageIO.h"
#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageIOFactory.h"
#include "itkMetaDataObject.h"
#include "itkVectorImage.h"
#include "itksys/Directory.hxx"
#include "itksys/SystemTools.hxx"
#include "mg_itk_guard.h"

namespace
{

constexpr itk::SizeValueType kMaxSide = 16384; // as the PNG and JPEG readers

// The synthetic marks MedGen writes: the "MedGen" key (NRRD, MetaImage) or a DICOM ImageType holding SYNTHETIC.
bool
HasSyntheticMark(const itk::MetaDataDictionary &d)
{
  std::string value;
  if (itk::ExposeMetaData<std::string>(d, "MedGen", value) && value == "synthetic")
    return true;
  return itk::ExposeMetaData<std::string>(d, "0008|0008", value) && value.find("SYNTHETIC") != std::string::npos;
}

// Why the file is not one 2D gray or colour image ("" when it is).
std::string
NotAnImageReason(const itk::ImageIOBase &io)
{
  const bool dicom = dynamic_cast<const itk::GDCMImageIO *>(&io) != nullptr;
  for (unsigned int d = 2; d < io.GetNumberOfDimensions(); ++d)
    if (io.GetDimensions(d) > 1)
    {
      if (dicom)
        return "a multi-frame DICOM file (" + std::to_string(io.GetDimensions(d)) +
               " frames): an image folder takes one 2D image per file";
      std::string size = std::to_string(io.GetDimensions(0));
      for (unsigned int e = 1; e < io.GetNumberOfDimensions(); ++e)
        size += "x" + std::to_string(io.GetDimensions(e));
      return "not a 2D image: a " + size + " volume (an image folder needs one 2D image per file)";
    }
  using Pixel = itk::IOPixelEnum;
  const Pixel pixel = io.GetPixelType();
  const unsigned int components = io.GetNumberOfComponents();
  const bool gray = components == 1 && pixel == Pixel::SCALAR;
  const bool colour = (components == 3 && pixel == Pixel::RGB) || (components == 4 && pixel == Pixel::RGBA);
  if (!gray && !colour)
    return "pixels of " + std::to_string(components) + " components (" +
           itk::ImageIOBase::GetPixelTypeAsString(pixel) + "): an image folder takes gray or RGB images";
  const itk::SizeValueType width = io.GetDimensions(0);
  const itk::SizeValueType height = io.GetNumberOfDimensions() > 1 ? io.GetDimensions(1) : 1;
  if (width > kMaxSide || height > kMaxSide)
    return std::to_string(width) + "x" + std::to_string(height) + " pixels, larger than " +
           std::to_string(kMaxSide) + " on a side";
  return "";
}

} // namespace

mg_status
mg_itk_image_read(const char *path, mg_image_f *out, char *err, size_t err_size)
{
  if (!out)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output image given");
  std::memset(out, 0, sizeof *out);
  if (!path)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no file name given");
  if (!itksys::SystemTools::FileExists(path, true))
    return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the file (missing, or not a file)");
  return mg_itk_detail::Guard(path, MG_ERR_FORMAT, err, err_size, [&] {
    itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path, itk::IOFileModeEnum::ReadMode);
    if (!io)
      return mg_file_error(err, err_size, MG_ERR_FORMAT, path,
                           "not an image MedGen reads (not PNG, JPEG or NIfTI, and no ITK reader knows it: DICOM, "
                           "TIFF, BMP, NRRD, MetaImage, ...)");
    io->SetFileName(path);
    io->ReadImageInformation();
    const std::string reason = NotAnImageReason(*io);
    if (!reason.empty())
      return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "%s", reason.c_str());

    // VectorImage takes gray (1 component) and RGB/RGBA alike, every component type converted to float; GDCMImageIO
    // applies the rescale slope and intercept while reading.
    using ImageType = itk::VectorImage<float, 2>;
    auto reader = itk::ImageFileReader<ImageType>::New();
    reader->SetImageIO(io);
    reader->SetFileName(path);
    reader->Update();
    const ImageType *image = reader->GetOutput();
    const auto size = image->GetLargestPossibleRegion().GetSize();
    const unsigned int components = image->GetNumberOfComponentsPerPixel();
    const bool eight_bit = io->GetComponentType() == itk::IOComponentEnum::UCHAR;
    const size_t n = size[0] * size[1];
    float *pixels = static_cast<float *>(std::malloc(n * sizeof *pixels));
    if (!pixels)
      return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for %lux%lu pixels",
                           static_cast<unsigned long>(size[0]), static_cast<unsigned long>(size[1]));
    const float *buffer = image->GetBufferPointer();
    for (size_t i = 0; i < n; ++i)
    {
      const float *p = buffer + i * components;
      if (components == 1)
        pixels[i] = p[0];
      else if (eight_bit) // the JPEG reader's integer Rec. 709 luma, so that an RGB BMP reads as the same PNG
        pixels[i] = static_cast<float>((21260 * static_cast<long>(p[0]) + 71520 * static_cast<long>(p[1]) +
                                        7220 * static_cast<long>(p[2]) + 50000) /
                                       100000);
      else
        pixels[i] = 0.2126f * p[0] + 0.7152f * p[1] + 0.0722f * p[2];
    }
    out->width = static_cast<int>(size[0]);
    out->height = static_cast<int>(size[1]);
    out->pixels = pixels;
    out->synthetic = HasSyntheticMark(io->GetMetaDataDictionary());
    out->eight_bit = eight_bit;
    return MG_OK;
  }, "ITK cannot read it: ");
}

bool
mg_itk_is_dicom_image_folder(const char *folder)
{
  itksys::Directory dir;
  if (!folder || !dir.Load(folder))
    return false;
  std::vector<std::string> files;
  for (unsigned long i = 0; i < dir.GetNumberOfFiles(); ++i)
  {
    const std::string name = dir.GetFile(i);
    const std::string full = std::string(folder) + "/" + name;
    if (name[0] != '.' && !itksys::SystemTools::FileIsDirectory(full))
      files.push_back(full);
  }
  // The scanner reads each header only up to the two tags, and skips files that are not DICOM.
  const gdcm::Tag frames(0x0028, 0x0008), series(0x0020, 0x000e);
  gdcm::Scanner scanner;
  scanner.AddTag(frames);
  scanner.AddTag(series);
  if (!scanner.Scan(files))
    return false;
  std::map<std::string, int> files_per_series;
  int dicom_files = 0;
  bool multi_frame = false;
  for (const std::string &file : files)
  {
    if (!scanner.IsKey(file.c_str()))
      continue;
    ++dicom_files;
    const char *frame_count = scanner.GetValue(file.c_str(), frames);
    const char *series_uid = scanner.GetValue(file.c_str(), series);
    multi_frame = multi_frame || (frame_count && std::atoi(frame_count) > 1);
    if (series_uid && ++files_per_series[series_uid] > 1)
      return false;
  }
  // A multi-frame file among 2D images is left for the image reader to refuse by name.
  return dicom_files > 1 || (dicom_files == 1 && !multi_frame);
}

mg_status
mg_itk_stack_read(const char *path, float **images, int *width, int *height, int *count, bool *synthetic, char *err,
                  size_t err_size)
{
  if (!images || !width || !height || !count || !synthetic)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no output given");
  *images = nullptr;
  *width = *height = *count = 0;
  *synthetic = false;
  if (!path || !itksys::SystemTools::FileExists(path, true))
    return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open the file (missing, or not a file)");
  return mg_itk_detail::Guard(path, MG_ERR_FORMAT, err, err_size, [&] {
    itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path, itk::IOFileModeEnum::ReadMode);
    if (!io)
      return mg_file_error(err, err_size, MG_ERR_FORMAT, path, "not a stack ITK reads (NIfTI, NRRD, MetaImage)");
    io->SetFileName(path);
    io->ReadImageInformation();
    for (unsigned int d = 3; d < io->GetNumberOfDimensions(); ++d)
      if (io->GetDimensions(d) > 1)
        return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "has %u dimensions: a stack has 3",
                             io->GetNumberOfDimensions());
    if (io->GetNumberOfComponents() != 1)
      return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "pixels of %u components: a stack is gray",
                           io->GetNumberOfComponents());
    using ImageType = itk::Image<float, 3>;
    auto reader = itk::ImageFileReader<ImageType>::New();
    reader->SetImageIO(io);
    reader->SetFileName(path);
    reader->Update();
    const ImageType *image = reader->GetOutput();
    const auto size = image->GetLargestPossibleRegion().GetSize();
    if (size[0] > kMaxSide || size[1] > kMaxSide)
      return mg_file_error(err, err_size, MG_ERR_UNSUPPORTED, path, "%lux%lu pixels, larger than %lu on a side",
                           static_cast<unsigned long>(size[0]), static_cast<unsigned long>(size[1]),
                           static_cast<unsigned long>(kMaxSide));
    const size_t n = size[0] * size[1] * size[2];
    float *pixels = static_cast<float *>(std::malloc(n * sizeof *pixels));
    if (!pixels)
      return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory for %lu voxels",
                           static_cast<unsigned long>(n));
    std::memcpy(pixels, image->GetBufferPointer(), n * sizeof *pixels); // ITK's buffer: index (c, r, k), c fastest
    std::string descrip;
    const bool nifti_mark = itk::ExposeMetaData<std::string>(io->GetMetaDataDictionary(), "descrip", descrip) &&
                            descrip.rfind(MG_NIFTI_SYNTHETIC_DESCRIP, 0) == 0;
    *images = pixels;
    *width = static_cast<int>(size[0]);
    *height = static_cast<int>(size[1]);
    *count = static_cast<int>(size[2]);
    *synthetic = nifti_mark || HasSyntheticMark(io->GetMetaDataDictionary());
    return MG_OK;
  }, "ITK cannot read it: ");
}
