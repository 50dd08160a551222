// mg_itk.h's reading half: medgen::SliceSet behind a C interface for the medgen tool.
#include "mg_itk.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "itkImageIOFactory.h"
#include "itksys/Directory.hxx"
#include "itksys/SystemTools.hxx"
#include "medgenVolumeSlices.h"
#include "mg_itk_guard.h"

struct mg_itk_slices
{
  medgen::SliceSet set;
  explicit mg_itk_slices(const medgen::SliceOptions &o)
    : set(o)
  {}
};

static const char *const kAxisNames[] = { "axial", "coronal", "sagittal" };

bool
mg_itk_axis_parse(const char *name, mg_itk_axis *axis)
{
  for (int a = 0; a < 3; ++a)
    if (name && !std::strcmp(name, kAxisNames[a]))
      return *axis = static_cast<mg_itk_axis>(a), true;
  return false;
}

const char *
mg_itk_axis_name(mg_itk_axis axis)
{
  return axis >= MG_ITK_AXIAL && axis <= MG_ITK_SAGITTAL ? kAxisNames[axis] : "?";
}

static bool
EndsWith(const std::string &s, const char *suffix)
{
  const size_t n = std::strlen(suffix);
  return s.size() >= n && itksys::SystemTools::LowerCase(s.substr(s.size() - n)) == suffix;
}

static bool
HasDicomSignature(const std::string &file)
{
  FILE *f = std::fopen(file.c_str(), "rb");
  if (!f)
    return false;
  char magic[4] = { 0 };
  const bool ok = std::fseek(f, 128, SEEK_SET) == 0 && std::fread(magic, 1, 4, f) == 4 && !std::memcmp(magic, "DICM", 4);
  std::fclose(f);
  return ok;
}

// A NIfTI, NRRD, MetaImage or DICOM file can hold one 2D image (a folder of 2D training images may hold such files);
// a header that cannot be read is left for the volume reader to report.
static bool
IsSingleSliceImage(const std::string &file)
{
  if (!itksys::SystemTools::FileExists(file, true))
    return false;
  try
  {
    itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(file.c_str(), itk::IOFileModeEnum::ReadMode);
    if (!io)
      return false;
    io->SetFileName(file);
    io->ReadImageInformation();
    return io->GetNumberOfDimensions() < 3 || io->GetDimensions(2) == 1;
  }
  catch (const itk::ExceptionObject &)
  {
    return false;
  }
}

bool
mg_itk_is_volume_path(const char *path)
{
  const std::string p = path ? path : "";
  if (itksys::SystemTools::FileIsDirectory(p))
  {
    itksys::Directory dir;
    if (!dir.Load(p))
      return false;
    for (unsigned long i = 0; i < dir.GetNumberOfFiles(); ++i)
    {
      const std::string name = dir.GetFile(i);
      const std::string full = p + "/" + name;
      if (name[0] != '.' && !itksys::SystemTools::FileIsDirectory(full) && HasDicomSignature(full))
        return !mg_itk_is_dicom_image_folder(path);
    }
    return false;
  }
  for (const char *ext : { ".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm" })
    if (EndsWith(p, ext))
      return !IsSingleSliceImage(p);
  return false;
}

mg_status
mg_itk_slices_create(const mg_itk_slice_options *options, mg_itk_slices **out, char *err, size_t err_size)
{
  *out = nullptr;
  medgen::SliceOptions o;
  o.axis = options->axis == MG_ITK_CORONAL    ? medgen::SliceAxis::Coronal
           : options->axis == MG_ITK_SAGITTAL ? medgen::SliceAxis::Sagittal
                                              : medgen::SliceAxis::Axial;
  o.size = options->size;
  if (options->window)
  {
    if (!(options->window_high > options->window_low))
    {
      std::snprintf(err, err_size, "intensity window [%g, %g] is empty", options->window_low, options->window_high);
      return MG_ERR_INVALID_ARGUMENT;
    }
    o.normalization = medgen::Normalization::Window;
    o.window_low = options->window_low;
    o.window_high = options->window_high;
  }
  return mg_itk_detail::Guard("", MG_ERR_INVALID_ARGUMENT, err, err_size, [&] {
    *out = new mg_itk_slices(o);
    return MG_OK;
  });
}

void
mg_itk_slices_free(mg_itk_slices *s)
{
  delete s;
}

mg_status
mg_itk_slices_add(mg_itk_slices *s, const char *path, const char *class_name, const char *label_map, int *kept,
                  char *err, size_t err_size)
{
  return mg_itk_detail::Guard("", MG_ERR_FORMAT, err, err_size, [&] {
    const int n = s->set.AddVolume(path, class_name ? class_name : "", label_map ? label_map : "");
    if (kept)
      *kept = n;
    return MG_OK;
  });
}

mg_status
mg_itk_slices_dataset(mg_itk_slices *s, mg_dataset *out, char *err, size_t err_size)
{
  return mg_itk_detail::Guard("", MG_ERR_INVALID_ARGUMENT, err, err_size, [&] {
    *out = s->set.Dataset();
    return MG_OK;
  });
}

const char *
mg_itk_slices_pixel_type(const mg_itk_slices *s)
{
  return s->set.PixelType().c_str();
}

double
mg_itk_slices_mm_per_pixel(const mg_itk_slices *s)
{
  return s->set.Count() ? s->set.Source(0).mm_per_pixel : 0.0;
}
