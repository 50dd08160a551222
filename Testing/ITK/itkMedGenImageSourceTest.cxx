// itk::MedGenImageSource end to end: a tiny class-conditional GAN (32x32, width 4, latent 8, 2 training steps) and
// an untrained tiny DDPM (16x16) are made with the C API and saved; pipelines source -> writer -> reader check
//   - the float output equals mg_gan_sample called directly (same seed, EMA weights), and short / unsigned char
//     outputs equal the float values rounded and clamped to the pixel type;
//   - geometry from a reference image survives .nrrd and .nii.gz; default geometry is spacing 1, origin 0, identity;
//   - the same seed gives the same images, another seed others; 3D stacks hold NumberOfSamples slices;
//   - which metadata keys survive each format (printed; all in .nrrd/.mha, only aux_file in .nii.gz);
//   - progress events, and an observer that calls AbortGenerateDataOn makes Update throw ProcessAborted;
//   - a missing file, a corrupt file, an unknown class and an unknown sampler throw with the file name.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "itkCommand.h"
#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkImageRegionConstIterator.h"
#include "itkMedGenImageSource.h"
#include "itkMetaDataObject.h"
#include "itkTestCheck.h"
#include "medgen.h"

namespace
{
using medgen_test::Check;

constexpr int S = 32;
constexpr int N = 16;

// Two classes of synthetic images: a bright disc (class 0) or a bright square (class 1) on a dark background.
std::vector<float>
SyntheticImages(std::vector<int32_t> &labels)
{
  std::vector<float> images(static_cast<size_t>(N) * S * S);
  labels.resize(N);
  for (int i = 0; i < N; ++i)
  {
    labels[i] = i % 2;
    const double cx = 10 + i % 5 * 3, cy = 12 + i % 3 * 4, r = 5 + i % 4;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
      {
        const bool in = labels[i] == 0 ? (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r
                                       : std::fabs(x - cx) < r && std::fabs(y - cy) < r;
        images[(static_cast<size_t>(i) * S + y) * S + x] = in ? 0.8f : -0.9f;
      }
  }
  return images;
}

bool
MakeGan(const std::string &path, std::vector<float> &reference, int count, uint64_t seed)
{
  std::vector<int32_t> labels;
  std::vector<float> images = SyntheticImages(labels);
  const char *names[2] = { "disc", "square" };
  // Original units span [-600, 1400]: wider than unsigned char and outside [0, 255], so clamping is exercised.
  mg_dataset data{ N, 1, S, images.data(), labels.data(), 2, names, 400.0, 1000.0 };
  char err[512] = "";
  mg_ctx *ctx = nullptr;
  mg_context_options co{ MG_DEVICE_CPU, 0, 0 };
  if (mg_context_create(&co, &ctx, err, sizeof err) != MG_OK)
  {
    std::cout << "FAIL: mg_context_create: " << err << std::endl;
    return false;
  }
  mg_gan_config config{ S, 1, 8, 4, 2 };
  mg_gan_train_options options = mg_gan_default_train_options();
  options.batch = 4;
  options.steps = 2;
  options.checkpoint_every = 0;
  mg_gan *gan = nullptr;
  bool ok = mg_gan_create(ctx, &config, &options, &gan) == MG_OK && mg_gan_train(gan, &data, nullptr, nullptr) == MG_OK &&
            mg_gan_save(gan, path.c_str(), err, sizeof err) == MG_OK;
  if (!ok)
    std::cout << "FAIL: making the GAN: " << err << " " << mg_context_error(ctx) << std::endl;
  if (gan)
    mg_gan_free(gan);
  // The reference draw: the saved checkpoint loaded with EMA weights and sampled directly.
  mg_checkpoint *ckpt = nullptr;
  if (ok && mg_checkpoint_load(path.c_str(), &ckpt, err, sizeof err) == MG_OK)
  {
    mg_gan *loaded = nullptr;
    reference.assign(static_cast<size_t>(count) * S * S, 0.0f);
    mg_gan_sample_options so = mg_gan_default_sample_options();
    so.seed = seed;
    std::vector<int32_t> square(count, 1);
    ok = mg_gan_load(ctx, ckpt, MG_WEIGHTS_EMA, &loaded) == MG_OK &&
         mg_gan_sample(loaded, &so, count, square.data(), reference.data(), nullptr, nullptr) == MG_OK;
    if (!ok)
      std::cout << "FAIL: reference sample: " << mg_context_error(ctx) << std::endl;
    if (loaded)
      mg_gan_free(loaded);
    mg_checkpoint_free(ckpt);
  }
  mg_context_free(ctx);
  return ok;
}

bool
MakeDdpm(const std::string &path)
{
  char err[512] = "";
  mg_ctx *ctx = nullptr;
  mg_context_options co{ MG_DEVICE_CPU, 0, 0 };
  if (mg_context_create(&co, &ctx, err, sizeof err) != MG_OK)
    return false;
  mg_ddpm_config c;
  mg_ddpm_default_config("unet-s", &c, err, sizeof err);
  c.unet = mg_unet_config{ 16, 1, 8, 2, { 1, 2 }, 1, { 0, 0 }, 0, 8, 4, 16, 0.0, 0 };
  mg_ddpm_train_options o = mg_ddpm_default_train_options();
  o.checkpoint_every = 0;
  mg_ddpm *m = nullptr;
  const bool ok = mg_ddpm_create(ctx, &c, &o, &m) == MG_OK && mg_ddpm_save(m, path.c_str(), err, sizeof err) == MG_OK;
  if (!ok)
    std::cout << "FAIL: making the DDPM: " << err << " " << mg_context_error(ctx) << std::endl;
  if (m)
    mg_ddpm_free(m);
  mg_context_free(ctx);
  return ok;
}

template <typename TImage>
typename TImage::Pointer
RoundTrip(TImage *image, const std::string &file)
{
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetInput(image);
  writer->SetFileName(file);
  writer->Update();
  auto reader = itk::ImageFileReader<TImage>::New();
  reader->SetFileName(file);
  reader->Update();
  return reader->GetOutput();
}

template <typename TImage>
std::vector<double>
Values(const TImage *image)
{
  std::vector<double> v;
  itk::ImageRegionConstIterator<TImage> it(image, image->GetLargestPossibleRegion());
  for (it.GoToBegin(); !it.IsAtEnd(); ++it)
    v.push_back(static_cast<double>(it.Get()));
  return v;
}

std::string
MetaString(const itk::MetaDataDictionary &dict, const std::string &key)
{
  std::string value;
  itk::ExposeMetaData<std::string>(dict, key, value);
  return value;
}

// Calls Update and returns the exception's description, or "" when nothing was thrown; kind tells what was thrown.
template <typename TFilter>
std::string
UpdateError(TFilter *filter, std::string &kind)
{
  try
  {
    filter->Update();
  }
  catch (const itk::ProcessAborted &e)
  {
    kind = "ProcessAborted";
    return e.GetDescription();
  }
  catch (const itk::MedGenError &e)
  {
    kind = "MedGenError";
    return e.GetDescription();
  }
  catch (const itk::ExceptionObject &e)
  {
    kind = "ExceptionObject";
    return e.GetDescription();
  }
  kind = "";
  return "";
}
} // namespace

int
main(int argc, char *argv[])
{
  const std::string dir = argc > 1 ? argv[1] : ".";
  const std::string ganFile = dir + "/source_test_gan.mgck";
  const std::string ddpmFile = dir + "/source_test_ddpm.mgck";
  const int samples = 3;
  const uint64_t seed = 5;
  std::vector<float> reference;
  if (!MakeGan(ganFile, reference, samples, seed) || !MakeDdpm(ddpmFile))
    return 1;

  using FloatVolume = itk::Image<float, 3>;
  using ShortImage = itk::Image<short, 2>;
  using ByteVolume = itk::Image<unsigned char, 3>;

  // Float stack: equals the direct C API draw; default geometry.
  auto floatSource = itk::MedGenImageSource<FloatVolume>::New();
  floatSource->SetModelFileName(ganFile);
  floatSource->SetNumberOfSamples(samples);
  floatSource->SetSeed(seed);
  floatSource->SetClassName("square");
  floatSource->SetNumberOfThreads(2);
  floatSource->Update();
  FloatVolume::Pointer floats = floatSource->GetOutput();
  const auto size = floats->GetLargestPossibleRegion().GetSize();
  Check(size[0] == S && size[1] == S && size[2] == samples, "3D output is 32 x 32 x NumberOfSamples");
  std::vector<double> fv = Values(floats.GetPointer());
  double maxDiff = 0, lo = 1e30, hi = -1e30;
  for (size_t i = 0; i < fv.size() && i < reference.size(); ++i)
  {
    maxDiff = std::max(maxDiff, std::fabs(fv[i] - reference[i]));
    lo = std::min(lo, fv[i]);
    hi = std::max(hi, fv[i]);
  }
  Check(fv.size() == reference.size() && maxDiff == 0, "float output equals mg_gan_sample (max diff " +
                                                            std::to_string(maxDiff) + ")");
  Check(lo >= -600.001 && hi <= 1400.001 && hi > lo, "float values within the data's range [-600, 1400]");
  Check(floats->GetSpacing()[0] == 1 && floats->GetOrigin()[0] == 0 && floats->GetDirection()(0, 0) == 1 &&
          floats->GetDirection()(0, 1) == 0,
        "default geometry: spacing 1, origin 0, identity");

  // Same seed again (a second filter: no state shared), and another seed.
  auto again = itk::MedGenImageSource<FloatVolume>::New();
  again->SetModelFileName(ganFile);
  again->SetNumberOfSamples(samples);
  again->SetSeed(seed);
  again->SetClassName("1");
  again->Update();
  Check(Values(again->GetOutput()) == fv, "same seed (class by index) gives the same images");
  again->SetSeed(seed + 1);
  again->Update();
  Check(Values(again->GetOutput()) != fv, "another seed gives other images");

  // Unsigned char: the float values rounded and clamped to [0, 255].
  auto byteSource = itk::MedGenImageSource<ByteVolume>::New();
  byteSource->SetModelFileName(ganFile);
  byteSource->SetNumberOfSamples(samples);
  byteSource->SetSeed(seed);
  byteSource->SetClassName("square");
  byteSource->Update();
  std::vector<double> bv = Values(byteSource->GetOutput());
  bool clamped = bv.size() == fv.size();
  int saturated = 0;
  for (size_t i = 0; clamped && i < bv.size(); ++i)
  {
    const double want = std::min(255.0, std::max(0.0, std::nearbyint(fv[i])));
    clamped = bv[i] == want;
    saturated += want == 0 || want == 255;
  }
  Check(clamped, "unsigned char output is the float output rounded and clamped to [0, 255]");
  std::cout << "unsigned char: " << saturated << " of " << bv.size() << " pixels saturated" << std::endl;

  // Metadata survival per format.
  const char *keys[] = { "MedGen", "MedGen_ModelFingerprint", "MedGen_Sampler", "MedGen_Steps", "MedGen_Seed",
                         "MedGen_Class", "aux_file" };
  const std::string fingerprint = MetaString(floats->GetMetaDataDictionary(), "MedGen_ModelFingerprint");
  Check(fingerprint.rfind("fnv1a64:", 0) == 0 && fingerprint.size() == 24, "fingerprint set: " + fingerprint);
  Check(MetaString(floats->GetMetaDataDictionary(), "MedGen_Seed") == "5", "seed recorded");
  for (const char *ext : { ".nrrd", ".mha", ".nii.gz" })
  {
    FloatVolume::Pointer back = RoundTrip(floats.GetPointer(), dir + "/source_test_float" + ext);
    const auto &dict = back->GetMetaDataDictionary();
    std::cout << ext << " keeps:";
    for (const char *key : keys)
      if (!MetaString(dict, key).empty())
        std::cout << " " << key << "=" << MetaString(dict, key);
    std::cout << std::endl;
    Check(Values(back.GetPointer()) == fv, std::string("float values survive ") + ext);
    if (std::string(ext) == ".nii.gz")
    {
      Check(MetaString(dict, "aux_file") == "MedGen:" + fingerprint.substr(8), "NIfTI aux_file carries the marker");
      Check(MetaString(dict, "MedGen").empty(), "NIfTI keeps no other keys (update the docs if this changes)");
    }
    else
    {
      Check(MetaString(dict, "MedGen") == "synthetic", std::string("MedGen marker survives ") + ext);
      Check(MetaString(dict, "MedGen_ModelFingerprint") == fingerprint, std::string("fingerprint survives ") + ext);
      Check(MetaString(dict, "MedGen_Seed") == "5", std::string("seed survives ") + ext);
    }
  }

  // Short 2D with geometry from a reference image, through .nrrd and .nii.gz.
  auto refImage = ShortImage::New();
  ShortImage::SpacingType spacing;
  spacing[0] = 0.7;
  spacing[1] = 1.3;
  ShortImage::PointType origin;
  origin[0] = 5;
  origin[1] = -3;
  ShortImage::DirectionType direction;
  direction(0, 0) = 0;
  direction(0, 1) = -1;
  direction(1, 0) = 1;
  direction(1, 1) = 0;
  refImage->SetSpacing(spacing);
  refImage->SetOrigin(origin);
  refImage->SetDirection(direction);
  auto shortSource = itk::MedGenImageSource<ShortImage>::New();
  shortSource->SetModelFileName(ganFile);
  shortSource->SetSeed(seed);
  shortSource->SetClassName("square");
  shortSource->SetReferenceImage(refImage);
  shortSource->Update();
  std::vector<double> sv = Values(shortSource->GetOutput());
  bool rounded = sv.size() == static_cast<size_t>(S * S);
  for (size_t i = 0; rounded && i < sv.size(); ++i)
    rounded = sv[i] == std::nearbyint(fv[i]); // sample 0 of the stack: image i depends only on (seed, i)
  Check(rounded, "short 2D output is sample 0 of the stack, rounded");
  for (const char *ext : { ".nrrd", ".nii.gz" })
  {
    ShortImage::Pointer back = RoundTrip(shortSource->GetOutput(), dir + "/source_test_short" + ext);
    bool geometry = true;
    for (unsigned i = 0; i < 2; ++i)
    {
      geometry = geometry && std::fabs(back->GetSpacing()[i] - spacing[i]) < 1e-5 &&
                 std::fabs(back->GetOrigin()[i] - origin[i]) < 1e-5;
      for (unsigned j = 0; j < 2; ++j)
        geometry = geometry && std::fabs(back->GetDirection()(i, j) - direction(i, j)) < 1e-5;
    }
    Check(geometry, std::string("reference geometry survives ") + ext);
    Check(Values(back.GetPointer()) == sv, std::string("short values survive ") + ext);
  }

  // DDPM: progress once per DDIM step, sampler recorded, values finite.
  std::vector<float> progressValues;
  auto ddpmSource = itk::MedGenImageSource<itk::Image<float, 2>>::New();
  ddpmSource->SetModelFileName(ddpmFile);
  ddpmSource->SetSampler("ddim");
  ddpmSource->SetNumberOfSteps(4);
  auto counter = itk::CStyleCommand::New();
  counter->SetClientData(&progressValues);
  counter->SetCallback([](itk::Object *caller, const itk::EventObject &, void *data) {
    static_cast<std::vector<float> *>(data)->push_back(static_cast<itk::ProcessObject *>(caller)->GetProgress());
  });
  ddpmSource->AddObserver(itk::ProgressEvent(), counter);
  ddpmSource->Update();
  std::vector<double> dv = Values(ddpmSource->GetOutput());
  bool finite = dv.size() == 16 * 16;
  for (double v : dv)
    finite = finite && std::isfinite(v);
  Check(finite, "DDPM output 16 x 16, finite");
  // One event per DDIM step, step / steps.
  std::string progressText;
  for (float p : progressValues)
    progressText += " " + std::to_string(p);
  std::cout << "DDPM progress:" << progressText << std::endl;
  Check(progressValues == std::vector<float>{ 0.25f, 0.5f, 0.75f, 1.0f }, "DDPM progress events:" + progressText);
  Check(MetaString(ddpmSource->GetOutput()->GetMetaDataDictionary(), "MedGen_Sampler") == "ddim" &&
          MetaString(ddpmSource->GetOutput()->GetMetaDataDictionary(), "MedGen_Steps") == "4",
        "DDPM sampler and steps recorded");

  // Abort from a progress observer: DDPM with 20 steps, aborted at the first engine step.
  std::string kind;
  auto abortSource = itk::MedGenImageSource<itk::Image<float, 2>>::New();
  abortSource->SetModelFileName(ddpmFile);
  abortSource->SetNumberOfSteps(20);
  // The engine must stop at the next step: the observer sees the aborting event and no more.
  int abortEvents = 0;
  auto aborter = itk::CStyleCommand::New();
  aborter->SetClientData(&abortEvents);
  aborter->SetCallback([](itk::Object *caller, const itk::EventObject &, void *data) {
    auto *filter = static_cast<itk::ProcessObject *>(caller);
    ++*static_cast<int *>(data);
    if (filter->GetProgress() > 0 && filter->GetProgress() < 1)
      filter->AbortGenerateDataOn();
  });
  abortSource->AddObserver(itk::ProgressEvent(), aborter);
  UpdateError(abortSource.GetPointer(), kind);
  Check(kind == "ProcessAborted", "abort from a progress observer throws ProcessAborted (got " + kind + ")");
  Check(abortEvents == 1, "DDPM stops at the step after the abort (" + std::to_string(abortEvents) + " events)");
  abortEvents = 0;

  // GAN abort: a stack of 40 images runs in 3 batches; the observer aborts after the first.
  auto ganAbort = itk::MedGenImageSource<FloatVolume>::New();
  ganAbort->SetModelFileName(ganFile);
  ganAbort->SetNumberOfSamples(40);
  ganAbort->AddObserver(itk::ProgressEvent(), aborter);
  UpdateError(ganAbort.GetPointer(), kind);
  Check(kind == "ProcessAborted", "GAN abort throws ProcessAborted (got " + kind + ")");
  Check(abortEvents == 1, "GAN stops after the first batch (" + std::to_string(abortEvents) + " events)");

  // Errors name the file.
  const std::string missing = dir + "/source_test_missing.mgck";
  const std::string corrupt = dir + "/source_test_corrupt.mgck";
  std::ofstream(corrupt, std::ios::binary) << "not a checkpoint at all";
  for (const std::string &file : { missing, corrupt })
  {
    auto bad = itk::MedGenImageSource<ShortImage>::New();
    bad->SetModelFileName(file);
    const std::string message = UpdateError(bad.GetPointer(), kind);
    std::cout << "error: " << message << std::endl;
    Check(kind == "MedGenError" && message.find(file) != std::string::npos, "bad file throws naming it: " + file);
  }
  // A checkpoint of a model type that makes no images.
  const std::string classifier = dir + "/source_test_classifier.mgck";
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  const int64_t shape[1] = { 1 };
  const float one = 1;
  char err[256] = "";
  mg_checkpoint_writer_add_tensor(w, "weight", 1, shape, &one);
  mg_checkpoint_writer_add_metadata(w, "model.type", "classifier");
  Check(mg_checkpoint_writer_save(w, classifier.c_str(), err, sizeof err) == MG_OK, err);
  mg_checkpoint_writer_free(w);
  auto wrongType = itk::MedGenImageSource<ShortImage>::New();
  wrongType->SetModelFileName(classifier);
  std::string message = UpdateError(wrongType.GetPointer(), kind);
  std::cout << "error: " << message << std::endl;
  Check(kind == "MedGenError" && message.find(classifier) != std::string::npos &&
          message.find("classifier") != std::string::npos,
        "a classifier checkpoint throws naming the file and type");

  auto badClass = itk::MedGenImageSource<ShortImage>::New();
  badClass->SetModelFileName(ganFile);
  badClass->SetClassName("triangle");
  message = UpdateError(badClass.GetPointer(), kind);
  std::cout << "error: " << message << std::endl;
  Check(kind == "MedGenError" && message.find(ganFile) != std::string::npos && message.find("triangle") != std::string::npos,
        "unknown class throws naming the file and class");
  auto badSampler = itk::MedGenImageSource<ShortImage>::New();
  badSampler->SetModelFileName(ddpmFile);
  badSampler->SetSampler("euler");
  message = UpdateError(badSampler.GetPointer(), kind);
  Check(kind == "MedGenError" && message.find("euler") != std::string::npos, "unknown sampler throws");
  auto uncond = itk::MedGenImageSource<ShortImage>::New();
  uncond->SetModelFileName(ddpmFile);
  uncond->SetClassName("0");
  UpdateError(uncond.GetPointer(), kind);
  Check(kind == "MedGenError", "a class asked of an unconditional model throws");

  floatSource->Print(std::cout);
  return medgen_test::Finish();
}
