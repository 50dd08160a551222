// mg_itk_image_read and mg_itk_is_dicom_image_folder (Logic/ITK/mg_itk.h), and mg_image_folder_read with it as
// its fallback reader (Logic/IO/mg_io.h):
//   - values read equal what ITK wrote: DICOM with a rescale (slope 0.5, intercept -1024) in a file with no
//     extension, 8-bit DICOM, 16-bit TIFF, a 2D NRRD, RGB BMP and TIFF as the integer Rec. 709 luma; top row first
//     (also for a bottom-up BMP written byte by byte here, as most BMPs are stored);
//     eight_bit for unsigned char components only; the synthetic mark of DICOM and NRRD;
//   - refused naming the file: a 3D NRRD, a multi-frame DICOM, a file no reader knows;
//   - folders: PNG (Logic/IO's reader) beside DICOM read all, 8-bit ones scaled by 0..255 and a 16-bit one by the
//     folder's range; without the fallback the DICOM file is refused by name, and a garbage file is refused by name
//     with it; DICOM files each in a series of their own are a folder of images, one series is a volume.
// One more mode serves test_medgen_folders.sh:
//   mgItkImageReadTest --write-folders DIR   writes DIR/good (class folders of DICOM, TIFF, BMP and PNG files),
//                                            DIR/garbage and DIR/multiframe (the same with one bad file)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

#include "itkGDCMImageIO.h"
#include "itkImage.h"
#include "itkImageFileWriter.h"
#include "itkMetaDataObject.h"
#include "itkRGBPixel.h"
#include "itkTestCheck.h"
#include "itksys/SystemTools.hxx"
#include "medgen.h"
#include "mg_io.h"
#include "mg_itk.h"

namespace
{
using medgen_test::Check;

constexpr int kWidth = 12, kHeight = 10; // not square, so that a transposed read shows

// A distinct value per pixel: rows and columns both show in it.
double
Pattern(int x, int y)
{
  return 3 * x + 37 * y;
}

template <typename TImage>
typename TImage::Pointer
NewImage(unsigned int width, unsigned int height, unsigned int depth = 1)
{
  auto image = TImage::New();
  typename TImage::SizeType size;
  size.Fill(1);
  size[0] = width;
  size[1] = height;
  if (TImage::ImageDimension > 2)
    size[2] = depth;
  image->SetRegions(size);
  image->Allocate();
  return image;
}

// Single-file Secondary Capture DICOM, marked synthetic; float pixels are stored as 16-bit integers through the
// given rescale. A new series per file, as X-rays come, unless the image's dictionary names one.
template <typename TImage>
void
WriteDicom(const typename TImage::Pointer &image, const std::string &path, const char *intercept = nullptr,
           const char *slope = nullptr)
{
  itk::MetaDataDictionary &d = image->GetMetaDataDictionary();
  itk::EncapsulateMetaData<std::string>(d, "0008|0016", "1.2.840.10008.5.1.4.1.1.7");
  itk::EncapsulateMetaData<std::string>(d, "0008|0060", "OT");
  itk::EncapsulateMetaData<std::string>(d, "0028|0004", "MONOCHROME2");
  itk::EncapsulateMetaData<std::string>(d, "0008|0008", "DERIVED\\SECONDARY\\SYNTHETIC");
  itk::EncapsulateMetaData<std::string>(d, "0008|103e", "SYNTHETIC MedGen test image");
  itk::EncapsulateMetaData<std::string>(d, "0010|0010", "SYNTHETIC^MEDGEN");
  if (intercept)
    for (const auto &kv : std::vector<std::pair<const char *, const char *>>{ { "0028|0100", "16" },
                                                                              { "0028|0101", "16" },
                                                                              { "0028|0102", "15" },
                                                                              { "0028|0103", "1" },
                                                                              { "0028|1052", intercept },
                                                                              { "0028|1053", slope } })
      itk::EncapsulateMetaData<std::string>(d, kv.first, kv.second);
  auto io = itk::GDCMImageIO::New(); // a new IO makes new study and series UIDs
  std::string series;
  io->SetKeepOriginalUID(itk::ExposeMetaData<std::string>(d, "0020|000e", series));
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetImageIO(io);
  writer->SetInput(image);
  writer->SetFileName(path);
  writer->Update();
}

// Any other format, by the extension (NRRD marked synthetic; ITK 5.2's TIFF and BMP writers keep no metadata).
template <typename TImage>
void
Write(const typename TImage::Pointer &image, const std::string &path)
{
  itk::EncapsulateMetaData<std::string>(image->GetMetaDataDictionary(), "MedGen", "synthetic");
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetInput(image);
  writer->SetFileName(path);
  writer->Update();
}

using FloatImage = itk::Image<float, 2>;
using ByteImage = itk::Image<unsigned char, 2>;
using UShortImage = itk::Image<unsigned short, 2>;
using RGBImage = itk::Image<itk::RGBPixel<unsigned char>, 2>;

// CT-like values in HU that the rescale stores exactly: multiples of the slope 0.5 from the intercept -1024.
FloatImage::Pointer
HounsfieldImage()
{
  auto image = NewImage<FloatImage>(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
      image->SetPixel({ { x, y } }, static_cast<float>(-1024 + 0.5 * Pattern(x, y) * 7));
  return image;
}

ByteImage::Pointer
ByteImageOf(int offset)
{
  auto image = NewImage<ByteImage>(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
      image->SetPixel({ { x, y } }, static_cast<unsigned char>((static_cast<int>(Pattern(x, y)) + offset) % 256));
  return image;
}

RGBImage::Pointer
ColourImage()
{
  auto image = NewImage<RGBImage>(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
    {
      itk::RGBPixel<unsigned char> p;
      p[0] = static_cast<unsigned char>(20 * x + 5);
      p[1] = static_cast<unsigned char>(25 * y + 3);
      p[2] = static_cast<unsigned char>((7 * x * y) % 256);
      image->SetPixel({ { x, y } }, p);
    }
  return image;
}

// Reads path with mg_itk_image_read and compares every pixel with what image holds (colour: the luma expected).
template <typename TImage>
void
CheckRead(const std::string &path, const typename TImage::Pointer &image, bool eight_bit, bool synthetic)
{
  mg_image_f img;
  char err[1024] = "";
  const std::string name = itksys::SystemTools::GetFilenameName(path);
  if (mg_itk_image_read(path.c_str(), &img, err, sizeof err) != MG_OK)
  {
    Check(false, name + " should read: " + err);
    return;
  }
  Check(img.width == kWidth && img.height == kHeight,
        name + ": " + std::to_string(img.width) + "x" + std::to_string(img.height) + ", not 12x10");
  Check(img.eight_bit == eight_bit, name + ": eight_bit should be " + (eight_bit ? "true" : "false"));
  Check(img.synthetic == synthetic, name + ": the synthetic mark should read " + (synthetic ? "true" : "false"));
  int wrong = 0;
  for (int y = 0; y < kHeight && img.width == kWidth && img.height == kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
    {
      const auto p = image->GetPixel({ { x, y } });
      double expected;
      if constexpr (std::is_same<TImage, RGBImage>::value)
        expected = (21260 * p[0] + 71520 * p[1] + 7220 * p[2] + 50000) / 100000; // Rec. 709, rounded
      else
        expected = static_cast<double>(p);
      wrong += img.pixels[y * kWidth + x] != expected;
    }
  Check(wrong == 0, name + ": " + std::to_string(wrong) + " pixels differ from what was written");
  mg_image_f_free(&img);
}

void
CheckRefused(const std::string &path, mg_status status, const char *problem)
{
  mg_image_f img;
  char err[1024] = "";
  const mg_status st = mg_itk_image_read(path.c_str(), &img, err, sizeof err);
  Check(st == status && std::strstr(err, path.c_str()) && std::strstr(err, problem) && !img.pixels,
        path + " should be refused naming the file and \"" + problem + "\", got \"" + err + "\"");
}

void
WriteGarbage(const std::string &path)
{
  std::ofstream(path) << "patient list, not an image\n";
}

// A 24-bit BMP written byte by byte as most BMPs are, rows stored bottom-up (positive height), gray pixels of value
// 10 + 40 * row + x counted from the top: it must read top row first, whatever ITK's own writer does.
void
CheckBottomUpBmp(const std::string &path)
{
  const int w = 4, h = 3, row_bytes = 12; // 4 pixels of 3 bytes: already a multiple of 4
  std::vector<unsigned char> file = { 'B', 'M' };
  auto put32 = [&file](uint32_t v) {
    for (int b = 0; b < 4; ++b)
      file.push_back(static_cast<unsigned char>(v >> (8 * b)));
  };
  auto put16 = [&file](uint16_t v) {
    file.push_back(static_cast<unsigned char>(v));
    file.push_back(static_cast<unsigned char>(v >> 8));
  };
  put32(54 + row_bytes * h), put32(0), put32(54);                     // file header: size, reserved, pixel offset
  put32(40), put32(w), put32(h), put16(1), put16(24), put32(0);        // info header: bottom-up, 24 bits, BI_RGB
  put32(row_bytes * h), put32(2835), put32(2835), put32(0), put32(0);
  for (int row = h - 1; row >= 0; --row) // the bottom row first
    for (int x = 0; x < w; ++x)
      file.insert(file.end(), 3, static_cast<unsigned char>(10 + 40 * row + x));
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char *>(file.data()),
                                              static_cast<std::streamsize>(file.size()));
  mg_image_f img;
  char err[1024] = "";
  if (mg_itk_image_read(path.c_str(), &img, err, sizeof err) != MG_OK)
  {
    Check(false, path + " should read: " + err);
    return;
  }
  int wrong = img.width == w && img.height == h ? 0 : 1;
  for (int row = 0; !wrong && row < h; ++row)
    for (int x = 0; x < w; ++x)
      wrong += img.pixels[row * w + x] != 10 + 40 * row + x;
  Check(wrong == 0, "a bottom-up BMP should read top row first");
  mg_image_f_free(&img);
}

void
TestFormats(const std::string &dir)
{
  CheckBottomUpBmp(dir + "/bottom_up.bmp");
  WriteDicom<FloatImage>(HounsfieldImage(), dir + "/xray", "-1024", "0.5");
  CheckRead<FloatImage>(dir + "/xray", HounsfieldImage(), false, true);
  WriteDicom<ByteImage>(ByteImageOf(0), dir + "/byte.dcm");
  CheckRead<ByteImage>(dir + "/byte.dcm", ByteImageOf(0), true, true);

  auto wide = NewImage<UShortImage>(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
      wide->SetPixel({ { x, y } }, static_cast<unsigned short>(60000 - 100 * Pattern(x, y)));
  Write<UShortImage>(wide, dir + "/wide.tif");
  CheckRead<UShortImage>(dir + "/wide.tif", wide, false, false);
  Write<FloatImage>(HounsfieldImage(), dir + "/slice.nrrd");
  CheckRead<FloatImage>(dir + "/slice.nrrd", HounsfieldImage(), false, true);
  Write<RGBImage>(ColourImage(), dir + "/colour.bmp");
  CheckRead<RGBImage>(dir + "/colour.bmp", ColourImage(), true, false);
  Write<RGBImage>(ColourImage(), dir + "/colour.tif");
  CheckRead<RGBImage>(dir + "/colour.tif", ColourImage(), true, false);

  using Volume = itk::Image<float, 3>;
  auto volume = NewImage<Volume>(kWidth, kHeight, 3);
  volume->FillBuffer(1.0f);
  Write<Volume>(volume, dir + "/volume.nrrd");
  CheckRefused(dir + "/volume.nrrd", MG_ERR_UNSUPPORTED, "not a 2D image: a 12x10x3 volume");
  Check(mg_itk_is_volume_path((dir + "/volume.nrrd").c_str()), "a 3D NRRD is a volume");
  Check(!mg_itk_is_volume_path((dir + "/slice.nrrd").c_str()), "a 2D NRRD is not a volume");
  Check(!mg_itk_is_volume_path((dir + "/byte.dcm").c_str()), "a single-frame DICOM file is not a volume");
  using ByteVolume = itk::Image<unsigned char, 3>;
  auto frames = NewImage<ByteVolume>(kWidth, kHeight, 4);
  frames->FillBuffer(9);
  WriteDicom<ByteVolume>(frames, dir + "/multiframe.dcm");
  CheckRefused(dir + "/multiframe.dcm", MG_ERR_UNSUPPORTED, "a multi-frame DICOM file (4 frames)");
  Check(mg_itk_is_volume_path((dir + "/multiframe.dcm").c_str()), "a multi-frame DICOM file is a volume");
  WriteGarbage(dir + "/garbage");
  CheckRefused(dir + "/garbage", MG_ERR_FORMAT, "not an image MedGen reads");
  CheckRefused(dir + "/missing.dcm", MG_ERR_IO, "cannot open the file");
}

// The PNG a folder holds beside DICOM files: Logic/IO's own reader takes it.
void
WritePng(const std::string &path, int offset)
{
  auto image = ByteImageOf(offset);
  char err[1024] = "";
  Check(mg_png_write(path.c_str(), image->GetBufferPointer(), kWidth, kHeight, true, err, sizeof err) == MG_OK,
        std::string("cannot write ") + path + ": " + err);
}

// Reads a folder of 12x10 images at 12x12 (not square: a size is needed), message holding the error.
bool
ReadFolder(const std::string &path, mg_image_reader fallback, mg_image_folder *f, std::string *message)
{
  char err[1024] = "";
  const bool ok = mg_image_folder_read(path.c_str(), kWidth, 0, fallback, f, err, sizeof err) == MG_OK;
  *message = err;
  return ok;
}

void
TestFolders(const std::string &dir)
{
  // 8-bit throughout: PNG + an 8-bit DICOM without extension, scaled by the fixed 0..255
  const std::string bytes = dir + "/bytes";
  itksys::SystemTools::MakeDirectory(bytes + "/png");
  itksys::SystemTools::MakeDirectory(bytes + "/dicom");
  WritePng(bytes + "/png/a.png", 0);
  WriteDicom<ByteImage>(ByteImageOf(50), bytes + "/dicom/IM0001");
  mg_image_folder f;
  std::string message;
  if (ReadFolder(bytes, mg_itk_image_read, &f, &message))
  {
    Check(f.data.count == 2 && f.data.num_classes == 2 && !std::strcmp(f.class_names[0], "dicom") &&
            f.labels[0] == 0 && f.labels[1] == 1,
          "PNG and DICOM: 2 images, classes dicom and png");
    Check(f.data.norm_offset == 127.5 && f.data.norm_scale == 127.5, "8-bit PNG and DICOM: scaled by 0..255");
    mg_image_folder_free(&f);
  }
  else
    Check(false, "PNG and DICOM folder: " + message);
  Check(!ReadFolder(bytes, nullptr, &f, &message) && message.find("IM0001") != std::string::npos &&
          message.find("unknown image format") != std::string::npos,
        "without the fallback, the DICOM file is refused by name: " + message);

  // a 16-bit DICOM (HU) beside the PNG: the folder's range, here the HU extremes
  itksys::SystemTools::RemoveFile(bytes + "/dicom/IM0001");
  WriteDicom<FloatImage>(HounsfieldImage(), bytes + "/dicom/IM0002", "-1024", "0.5");
  if (ReadFolder(bytes, mg_itk_image_read, &f, &message))
  {
    const double lo = -1024, hi = -1024 + 0.5 * Pattern(kWidth - 1, kHeight - 1) * 7;
    Check(std::fabs(f.data.norm_offset - (hi + lo) / 2) < 1e-3 && std::fabs(f.data.norm_scale - (hi - lo) / 2) < 1e-3,
          "PNG and HU DICOM: scaled by the folder's range");
    mg_image_folder_free(&f);
  }
  else
    Check(false, "PNG and HU DICOM folder: " + message);

  WriteGarbage(bytes + "/png/notes");
  Check(!ReadFolder(bytes, mg_itk_image_read, &f, &message) && message.find("/png/notes") != std::string::npos,
        "a garbage file is refused by name: " + message);

  // DICOM files each in a series of their own are images; one series is a volume
  const std::string xrays = dir + "/xrays";
  itksys::SystemTools::MakeDirectory(xrays);
  WriteDicom<ByteImage>(ByteImageOf(1), xrays + "/1.dcm");
  WriteDicom<ByteImage>(ByteImageOf(2), xrays + "/2.dcm");
  Check(mg_itk_is_dicom_image_folder(xrays.c_str()) && !mg_itk_is_volume_path(xrays.c_str()),
        "DICOM files of their own series are a folder of images");
  auto frames = NewImage<itk::Image<unsigned char, 3>>(kWidth, kHeight, 2);
  frames->FillBuffer(5);
  WriteDicom<itk::Image<unsigned char, 3>>(frames, xrays + "/3.dcm");
  Check(mg_itk_is_dicom_image_folder(xrays.c_str()),
        "a multi-frame file among 2D DICOM images leaves a folder of images (its reader refuses it)");
  const std::string cine = dir + "/cine";
  itksys::SystemTools::MakeDirectory(cine);
  WriteDicom<itk::Image<unsigned char, 3>>(frames, cine + "/loop.dcm");
  Check(!mg_itk_is_dicom_image_folder(cine.c_str()) && mg_itk_is_volume_path(cine.c_str()),
        "a lone multi-frame DICOM file in a folder is a volume");
  const std::string series = dir + "/series";
  itksys::SystemTools::MakeDirectory(series);
  for (const char *name : { "/1.dcm", "/2.dcm" })
  {
    auto image = ByteImageOf(3);
    itk::EncapsulateMetaData<std::string>(image->GetMetaDataDictionary(), "0020|000e", "1.2.826.0.1.3680043.2.9");
    WriteDicom<ByteImage>(image, series + name);
  }
  Check(!mg_itk_is_dicom_image_folder(series.c_str()) && mg_itk_is_volume_path(series.c_str()),
        "DICOM files of one series are a volume");
}

// The folders test_medgen_folders.sh trains on: two classes of 16 x 16 images, dx (DICOM with and without extension
// and a PNG) and tiff (16-bit TIFF and an RGB BMP), and two bad copies, each with one file medgen must refuse by
// name (dx sorts first, so that its DICOM files decide what the folder holds).
void
WriteFolders(const std::string &dir)
{
  for (const char *set : { "/good", "/garbage", "/multiframe" })
  {
    const std::string dx = dir + set + "/dx", tiff = dir + set + "/tiff";
    itksys::SystemTools::MakeDirectory(dx);
    itksys::SystemTools::MakeDirectory(tiff);
    for (int i = 0; i < 3; ++i)
    {
      auto hu = NewImage<FloatImage>(16, 16);
      auto wide = NewImage<UShortImage>(16, 16);
      for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x)
        {
          hu->SetPixel({ { x, y } }, static_cast<float>(-1024 + 0.5 * ((x * (i + 1) + 5 * y) % 64) * 20));
          wide->SetPixel({ { x, y } }, static_cast<unsigned short>(1000 * ((x + y * (i + 2)) % 40)));
        }
      WriteDicom<FloatImage>(hu, dx + "/IM000" + std::to_string(i) + (i ? ".dcm" : ""), "-1024", "0.5");
      Write<UShortImage>(wide, tiff + "/scan" + std::to_string(i) + ".tif");
    }
    auto colour = NewImage<RGBImage>(16, 16);
    colour->FillBuffer(itk::RGBPixel<unsigned char>(static_cast<unsigned char>(90)));
    Write<RGBImage>(colour, tiff + "/colour.bmp");
    std::vector<unsigned char> gray(256);
    for (int p = 0; p < 256; ++p)
      gray[p] = static_cast<unsigned char>(p);
    char err[1024] = "";
    if (mg_png_write((dx + "/screenshot.png").c_str(), gray.data(), 16, 16, true, err, sizeof err) != MG_OK)
      Check(false, err);
  }
  WriteGarbage(dir + "/garbage/dx/IM0099");
  auto frames = NewImage<itk::Image<unsigned char, 3>>(16, 16, 3);
  frames->FillBuffer(7);
  WriteDicom<itk::Image<unsigned char, 3>>(frames, dir + "/multiframe/dx/cine.dcm");
}

} // namespace

int
main(int argc, char *argv[])
{
  if (argc == 3 && !std::strcmp(argv[1], "--write-folders"))
  {
    WriteFolders(argv[2]);
    return medgen_test::failures ? 1 : 0;
  }
  if (argc != 2)
  {
    std::cerr << "usage: mgItkImageReadTest SCRATCH_DIR | --write-folders DIR" << std::endl;
    return 2;
  }
  const std::string scratch = argv[1];
  itksys::SystemTools::RemoveADirectory(scratch);
  itksys::SystemTools::MakeDirectory(scratch);
  TestFormats(scratch);
  TestFolders(scratch);
  return medgen_test::Finish();
}
