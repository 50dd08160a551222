// medgenMakeTestVolumes DIR: the small volumes test_medgen_volumes.sh trains on, every one marked synthetic in its
// metadata (NIfTI aux_file, NRRD/MetaImage fields, DICOM ImageType DERIVED and a SYNTHETIC series description).
//
// Good volumes: a CT-like phantom (short, air -1000 around a block of tissue whose slices are the only foreground)
//   phantom.nii.gz   24 x 20 x 14 voxels of 0.9 x 0.9 x 2.5 mm, tissue in slices 2..11: 10 axial slices kept
//   phantom.nrrd     24 x 20 x 9, tissue in slices 1..6: 6 slices
//   phantom.mha      24 x 20 x 8, tissue in slices 1..5: 5 slices
//   dicom/           a CT series of 24 x 20 x 8, tissue in slices 1..6: 6 slices
//   labels.nii.gz    phantom.nii.gz's label map (unsigned char): label 1 on 36 voxels of slices 2..5, label 3 on 36
//                    voxels of slices 6..9, and slices 10..11 without labels: classes background 2, label 1 4,
//                    label 3 4
//   classes/disk/disk1.nii.gz, disk2.nrrd and classes/box/box1.mha, box/series/ (DICOM): two classes of volumes,
//                    10 slices each
//   flat/one/0.nii.gz, 1.nii.gz and flat/two/0.nii.gz, 1.nii.gz: 2D NIfTI images, a folder of 2D images
// Bad ones, each refused by medgen train: truncated.nii.gz (half a phantom.nii.gz), four_d.nrrd (4D), rgb.mha (3
// components), constant.nii.gz, nan.nrrd (one NaN voxel), labels_size.nii.gz (another size),
// labels_spacing.nii.gz (another spacing), labels_fraction.nrrd (a voxel of 1.5), not_an_image.nii (text).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "itkImageFileWriter.h"
#include "itkMetaDataObject.h"
#include "itkRGBPixel.h"
#include "itksys/SystemTools.hxx"
#include "medgenTestVolumes.h"

namespace
{

const char *const kSyntheticNote = "MedGen SYNTHETIC test volume (medgenMakeTestVolumes)";

template <typename TImage>
typename TImage::Pointer
NewImage(const typename TImage::SizeType &size, double slice_spacing = 2.5)
{
  auto image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize(size);
  image->SetRegions(region);
  image->Allocate();
  image->FillBuffer(typename TImage::PixelType{});
  typename TImage::SpacingType spacing;
  spacing.Fill(1.0);
  spacing[0] = spacing[1] = 0.9;
  if (TImage::ImageDimension > 2)
    spacing[2] = slice_spacing;
  image->SetSpacing(spacing);
  // The marks itkMedGenImageSource.h uses: NRRD and MetaImage keep every string key; ITK 5.2's NIfTI writer keeps
  // aux_file only (23 characters).
  itk::MetaDataDictionary &d = image->GetMetaDataDictionary();
  itk::EncapsulateMetaData<std::string>(d, "MedGen", "synthetic");
  itk::EncapsulateMetaData<std::string>(d, "MedGen_Note", kSyntheticNote);
  itk::EncapsulateMetaData<std::string>(d, "aux_file", "MedGen SYNTHETIC test");
  return image;
}

template <typename TImage>
void
Write(const typename TImage::Pointer &image, const std::string &path)
{
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetInput(image);
  writer->SetFileName(path);
  writer->Update();
}

using ShortVolume = itk::Image<short, 3>;
using FloatVolume = itk::Image<float, 3>;
using LabelVolume = itk::Image<unsigned char, 3>;

// Air around a block of tissue in slices first..last; round: an elliptic cylinder instead of a block.
ShortVolume::Pointer
Phantom(int nz, int first, int last, bool round = false)
{
  auto image = NewImage<ShortVolume>({ { 24, 20, static_cast<itk::SizeValueType>(nz) } });
  for (int z = 0; z < nz; ++z)
    for (int y = 0; y < 20; ++y)
      for (int x = 0; x < 24; ++x)
      {
        const bool inside = round ? std::pow((x - 11.5) / 9.0, 2) + std::pow((y - 9.5) / 7.0, 2) <= 1.0
                                  : x >= 4 && x < 20 && y >= 3 && y < 17;
        const bool tissue = z >= first && z <= last && inside;
        image->SetPixel({ { x, y, z } }, static_cast<short>(tissue ? 40 + 5 * ((x + 2 * y + 3 * z) % 11) : -1000));
      }
  return image;
}

void
MakeVolumes(const std::string &dir)
{
  const auto phantom = Phantom(14, 2, 11);
  Write<ShortVolume>(phantom, dir + "/phantom.nii.gz");
  Write<ShortVolume>(Phantom(9, 1, 6), dir + "/phantom.nrrd");
  Write<ShortVolume>(Phantom(8, 1, 5), dir + "/phantom.mha");
  medgen_test::WriteDicomSeries(Phantom(8, 1, 6), dir + "/dicom", "1");

  auto labels = NewImage<LabelVolume>({ { 24, 20, 14 } });
  for (int z = 2; z <= 9; ++z)
    for (int y = 5; y < 11; ++y)
      for (int x = 6; x < 12; ++x)
        labels->SetPixel({ { x, y, z } }, z <= 5 ? 1 : 3);
  Write<LabelVolume>(labels, dir + "/labels.nii.gz");

  const std::string disk = dir + "/classes/disk", box = dir + "/classes/box";
  itksys::SystemTools::MakeDirectory(disk);
  itksys::SystemTools::MakeDirectory(box);
  Write<ShortVolume>(Phantom(12, 1, 10, true), disk + "/disk1.nii.gz");
  Write<ShortVolume>(Phantom(11, 0, 9, true), disk + "/disk2.nrrd");
  Write<ShortVolume>(Phantom(10, 0, 9), box + "/box1.mha");
  medgen_test::WriteDicomSeries(Phantom(12, 2, 11), box + "/series", "2");
  std::ofstream(dir + "/classes/README.txt") << "two classes of synthetic test volumes\n";

  using ShortImage = itk::Image<short, 2>;
  for (const char *name : { "one", "two" })
  {
    const std::string folder = dir + "/flat/" + name;
    itksys::SystemTools::MakeDirectory(folder);
    for (int i = 0; i < 2; ++i)
    {
      auto image = NewImage<ShortImage>({ { 16, 16 } });
      for (int p = 0; p < 16 * 16; ++p)
        image->GetBufferPointer()[p] = static_cast<short>((p * (i + 2) + name[1]) % 97);
      Write<ShortImage>(image, folder + "/" + std::to_string(i) + ".nii.gz");
    }
  }
}

void
MakeBadVolumes(const std::string &dir)
{
  const std::string truncated = dir + "/truncated.nii.gz";
  Write<ShortVolume>(Phantom(14, 2, 11), truncated);
  std::vector<char> bytes(itksys::SystemTools::FileLength(truncated));
  std::ifstream(truncated, std::ios::binary).read(bytes.data(), bytes.size());
  std::ofstream(truncated, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size() / 2);

  using Float4D = itk::Image<float, 4>;
  auto four = NewImage<Float4D>({ { 8, 8, 6, 2 } });
  four->GetBufferPointer()[5] = 1.0f;
  Write<Float4D>(four, dir + "/four_d.nrrd");

  using RGBVolume = itk::Image<itk::RGBPixel<unsigned char>, 3>;
  auto rgb = NewImage<RGBVolume>({ { 8, 8, 6 } });
  rgb->GetBufferPointer()[7].Fill(200);
  Write<RGBVolume>(rgb, dir + "/rgb.mha");

  auto constant = NewImage<ShortVolume>({ { 8, 8, 6 } });
  constant->FillBuffer(300);
  Write<ShortVolume>(constant, dir + "/constant.nii.gz");

  auto nan = NewImage<FloatVolume>({ { 8, 8, 6 } });
  for (size_t i = 0; i < 8 * 8 * 6; ++i)
    nan->GetBufferPointer()[i] = static_cast<float>(i % 13);
  nan->SetPixel({ { 2, 3, 4 } }, std::nanf(""));
  Write<FloatVolume>(nan, dir + "/nan.nrrd");

  Write<LabelVolume>(NewImage<LabelVolume>({ { 24, 20, 13 } }), dir + "/labels_size.nii.gz");
  Write<LabelVolume>(NewImage<LabelVolume>({ { 24, 20, 14 } }, 3.0), dir + "/labels_spacing.nii.gz");
  auto fraction = NewImage<FloatVolume>({ { 24, 20, 14 } });
  fraction->SetPixel({ { 1, 2, 3 } }, 1.5f);
  Write<FloatVolume>(fraction, dir + "/labels_fraction.nrrd");

  std::ofstream(dir + "/not_an_image.nii") << "this is a text file, not an image\n";
}

} // namespace

int
main(int argc, char *argv[])
{
  if (argc != 2)
  {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try
  {
    itksys::SystemTools::MakeDirectory(argv[1]);
    MakeVolumes(argv[1]);
    MakeBadVolumes(argv[1]);
  }
  catch (const itk::ExceptionObject &e)
  {
    std::fprintf(stderr, "medgenMakeTestVolumes: %s\n", e.GetDescription());
    return 1;
  }
  return 0;
}
