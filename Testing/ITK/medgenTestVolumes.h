// medgenTestVolumes.h: writing the ITK tests' synthetic volumes as DICOM series (medgenMakeTestVolumes,
// medgenVolumeSlicesTest).
#ifndef medgenTestVolumes_h
#define medgenTestVolumes_h

#include <cstdio>
#include <string>
#include <vector>

#include "itkGDCMImageIO.h"
#include "itkImage.h"
#include "itkImageSeriesWriter.h"
#include "itkMetaDataObject.h"
#include "itksys/SystemTools.hxx"

namespace medgen_test
{
// volume as a CT series in dir (made if missing), one file per slice (slice000.dcm, ...) with the image plane tags of
// the volume's spacing and origin (its direction must be the identity), marked synthetic: ImageType
// DERIVED\SECONDARY\SYNTHETIC, a SYNTHETIC series description and patient name. series_number tells the series'
// UIDs apart.
inline void
WriteDicomSeries(const itk::Image<short, 3> *volume, const std::string &dir, const std::string &series_number)
{
  itksys::SystemTools::MakeDirectory(dir);
  const auto spacing = volume->GetSpacing();
  const auto origin = volume->GetOrigin();
  const auto number = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  const int nz = static_cast<int>(volume->GetLargestPossibleRegion().GetSize()[2]);
  std::vector<itk::MetaDataDictionary> dictionaries(nz);
  std::vector<itk::MetaDataDictionary *> pointers;
  std::vector<std::string> files;
  for (int z = 0; z < nz; ++z)
  {
    itk::MetaDataDictionary &d = dictionaries[z];
    auto set = [&d](const char *tag, const std::string &value) {
      itk::EncapsulateMetaData<std::string>(d, tag, value);
    };
    const std::string uid = "1.2.826.0.1.3680043.2.1125.1.77." + series_number;
    set("0008|0016", "1.2.840.10008.5.1.4.1.1.2"); // CT Image Storage: keeps the image plane module
    set("0008|0008", "DERIVED\\SECONDARY\\SYNTHETIC");
    set("0008|103e", "SYNTHETIC MedGen test volume");
    set("0010|0010", "SYNTHETIC^MEDGEN");
    set("0008|0060", "CT");
    set("0028|0004", "MONOCHROME2");
    set("0020|000d", uid + ".1");
    set("0020|000e", uid + ".2");
    set("0008|0018", uid + ".3." + std::to_string(z + 1));
    set("0020|0013", std::to_string(z + 1));
    set("0020|0037", "1\\0\\0\\0\\1\\0");
    set("0020|0032", number(origin[0]) + "\\" + number(origin[1]) + "\\" + number(origin[2] + spacing[2] * z));
    set("0028|0030", number(spacing[1]) + "\\" + number(spacing[0])); // rows, then columns
    set("0018|0050", number(spacing[2]));
    pointers.push_back(&d);
    char name[32];
    std::snprintf(name, sizeof name, "/slice%03d.dcm", z);
    files.push_back(dir + name);
  }
  auto io = itk::GDCMImageIO::New();
  io->KeepOriginalUIDOn();
  auto writer = itk::ImageSeriesWriter<itk::Image<short, 3>, itk::Image<short, 2>>::New();
  writer->SetInput(volume);
  writer->SetImageIO(io);
  writer->SetFileNames(files);
  writer->SetMetaDataDictionaryArray(&pointers);
  writer->Update();
}
} // namespace medgen_test

#endif
