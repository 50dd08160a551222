// itk::MedGenTrainer end to end on a synthetic phantom: a short-pixel volume of blurred discs (24 x 20 x 10 voxels,
// 0.8 x 0.8 x 2.5 mm, rotated 90 degrees about the z axis), in memory and through a .nrrd file (reader -> trainer):
//   - a tiny DDPM (16x16, base 8) trains for a few steps; progress events rise monotonically to 1; the checkpoint
//     notes the short pixels, the pixel size and the axis;
//   - the same seed gives byte-identical checkpoints on 1 and 2 threads and from the file or the memory image;
//     another seed another checkpoint;
//   - MedGenImageSource on the checkpoint gives short images within the phantom's intensity range, with the
//     geometry of a reference image;
//   - an observer that aborts at step 3 makes Update throw ProcessAborted and leaves a checkpoint at step 3; resuming
//     it gives the uninterrupted run's checkpoint byte for byte; resuming on other slices is refused; with Resume
//     off a checkpoint of the same kind is replaced by a new run;
//   - a tiny GAN (32x32, width 8) trains and samples;
//   - refusals with itk::ExceptionObject messages: no input, a missing file, a 4D file, a checkpoint of the other
//     model kind or a file that is no checkpoint (both left untouched), a class-name mix, an unknown device (its
//     name and the allowed ones) or, without a usable GPU, device cuda (the engine's reason), a GAN size;
//   - a label map, or class names, give a class-conditional model with those classes;
//   - Device: both filters default to "auto", which trains and samples on whatever the engine resolves it to (the
//     checkpoint notes run.device); MedGenImageSource's "cuda" fails with the engine's reason without a usable GPU,
//     an unknown name throws; auto's note (a CUDA build on a machine without a GPU) is one ITK warning however many
//     filters update, and none where the engine has nothing to say (a CPU build, or a usable GPU).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "itkCommand.h"
#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIteratorWithIndex.h"
#include "itkMedGenImageSource.h"
#include "itkMedGenTrainer.h"
#include "itkMetaDataObject.h"
#include "itkOutputWindow.h"
#include "itkTestCheck.h"
#include "medgen.h"

namespace
{
using medgen_test::Check;

using VolumeType = itk::Image<short, 3>;
using TrainerType = itk::MedGenTrainer<VolumeType>;
using LabelMapType = TrainerType::LabelMapType;
constexpr short Background = 100, Foreground = 900;

// Discs whose radius grows along z, with a soft (logistic) edge: a blurred disc phantom in short pixels.
VolumeType::Pointer
MakePhantom()
{
  auto image = VolumeType::New();
  VolumeType::SizeType size{ { 24, 20, 10 } };
  image->SetRegions(size);
  const double spacing[3] = { 0.8, 0.8, 2.5 };
  image->SetSpacing(spacing);
  const double origin[3] = { -10.0, 5.0, -12.5 };
  image->SetOrigin(origin);
  VolumeType::DirectionType direction;
  direction.Fill(0.0);
  direction(0, 1) = -1.0; // array y runs patient right
  direction(1, 0) = 1.0;  // array x runs patient posterior
  direction(2, 2) = 1.0;
  image->SetDirection(direction);
  image->Allocate();
  itk::ImageRegionIteratorWithIndex<VolumeType> it(image, image->GetLargestPossibleRegion());
  for (it.GoToBegin(); !it.IsAtEnd(); ++it)
  {
    const auto idx = it.GetIndex();
    const double dx = (idx[0] - 11.5) * 0.8, dy = (idx[1] - 9.5) * 0.8;
    const double radius = 3.0 + 0.6 * idx[2];
    const double inside = 1.0 / (1.0 + std::exp((std::sqrt(dx * dx + dy * dy) - radius) / 0.8));
    it.Set(static_cast<short>(std::lround(Background + (Foreground - Background) * inside)));
  }
  itk::EncapsulateMetaData<std::string>(image->GetMetaDataDictionary(), "MedGen", "synthetic");
  return image;
}

std::string
ReadBytes(const std::string &path)
{
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A trainer for a tiny DDPM: 16x16, base 8, 6 steps of 4 slices, checkpoints only at the end.
TrainerType::Pointer
TinyDdpm(const VolumeType *input, const std::string &checkpoint, uint64_t seed, int threads)
{
  std::remove(checkpoint.c_str());
  auto trainer = TrainerType::New();
  trainer->SetInput(0, input);
  trainer->SetImageSize(16);
  trainer->SetBaseChannels(8);
  trainer->SetNumberOfIterations(6);
  trainer->SetBatchSize(4);
  trainer->SetCheckpointInterval(100);
  trainer->SetSeed(seed);
  trainer->SetNumberOfThreads(threads);
  trainer->SetCheckpointFileName(checkpoint);
  return trainer;
}

// Runs update and returns the exception's description ("" when none was thrown), shown in the log.
template <typename TUpdate>
std::string
UpdateError(TUpdate update)
{
  try
  {
    update();
  }
  catch (const itk::ExceptionObject &e)
  {
    std::cout << "refused: " << e.GetDescription() << std::endl;
    return e.GetDescription();
  }
  return "";
}

bool
Contains(const std::string &text, const std::string &part)
{
  return text.find(part) != std::string::npos;
}

// What the engine says about a device here: its resolution and note (mg_device_resolve).
struct DeviceReport
{
  bool usable;
  mg_device resolved;
  std::string note;
};
DeviceReport
ResolveHere(mg_device requested)
{
  DeviceReport report{ false, MG_DEVICE_CPU, "" };
  char note[1024] = "";
  report.usable = mg_device_resolve(requested, &report.resolved, note, sizeof note) == MG_OK;
  report.note = note;
  return report;
}

// Keeps the warnings ITK shows (and still shows them), to count auto's device note.
class WarningRecorder : public itk::OutputWindow
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(WarningRecorder);
  using Self = WarningRecorder;
  using Superclass = itk::OutputWindow;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  std::vector<std::string> warnings;
  void
  DisplayWarningText(const char *text) override
  {
    this->warnings.emplace_back(text);
    Superclass::DisplayWarningText(text);
  }

protected:
  WarningRecorder() = default;
};

// Steps done and classes of a checkpoint, read back through the engine.
void
CheckpointState(const std::string &path, const char *type, int64_t &steps, int &classes)
{
  steps = -1;
  classes = -1;
  char err[1024] = "";
  mg_checkpoint *ckpt = nullptr;
  mg_ctx *ctx = nullptr;
  mg_context_options options{ MG_DEVICE_CPU, 1, 0 };
  if (mg_checkpoint_load(path.c_str(), &ckpt, err, sizeof err) == MG_OK &&
      mg_context_create(&options, &ctx, err, sizeof err) == MG_OK)
  {
    if (std::string(type) == "gan")
    {
      mg_gan *gan = nullptr;
      if (mg_gan_load(ctx, ckpt, MG_WEIGHTS_TRAINING, &gan) == MG_OK)
      {
        steps = mg_gan_step(gan);
        classes = mg_gan_num_classes(gan);
        mg_gan_free(gan);
      }
    }
    else
    {
      mg_ddpm *ddpm = nullptr;
      if (mg_ddpm_load(ctx, ckpt, MG_WEIGHTS_TRAINING, &ddpm) == MG_OK)
      {
        steps = mg_ddpm_step(ddpm);
        classes = mg_ddpm_num_classes(ddpm);
        mg_ddpm_free(ddpm);
      }
    }
  }
  if (ctx)
    mg_context_free(ctx);
  if (ckpt)
    mg_checkpoint_free(ckpt);
}

std::string
Note(const std::string &path, const char *key)
{
  char err[1024] = "";
  mg_checkpoint *ckpt = nullptr;
  if (mg_checkpoint_load(path.c_str(), &ckpt, err, sizeof err) != MG_OK)
    return std::string("(") + err + ")";
  const char *value = mg_checkpoint_metadata(ckpt, key);
  const std::string text = value ? value : "(absent)";
  mg_checkpoint_free(ckpt);
  return text;
}

// Samples a checkpoint into short images with the phantom's geometry; checks type, range and geometry.
void
CheckSamples(const std::string &checkpoint, const VolumeType *phantom, const std::string &what)
{
  using SourceType = itk::MedGenImageSource<VolumeType>;
  auto source = SourceType::New();
  source->SetModelFileName(checkpoint);
  source->SetNumberOfSamples(2);
  source->SetNumberOfSteps(4);
  source->SetReferenceImage(phantom);
  source->SetNumberOfThreads(2);
  Check(std::string(source->GetDevice()) == "auto", what + ": MedGenImageSource's Device defaults to auto");
  const DeviceReport cuda = ResolveHere(MG_DEVICE_CUDA);
  if (!cuda.usable)
  {
    source->SetDevice("cuda");
    const std::string cudaError = UpdateError([&] { source->Update(); });
    Check(!cuda.note.empty() && Contains(cudaError, cuda.note),
          what + ": sampling on Device cuda fails with the engine's reason (" + cuda.note + "): " + cudaError);
  }
  source->SetDevice("bogus");
  const std::string bogusError = UpdateError([&] { source->Update(); });
  Check(Contains(bogusError, "Device \"bogus\"") && Contains(bogusError, "auto, cpu or cuda"),
        what + ": an unknown Device names itself and the allowed ones: " + bogusError);
  source->SetDevice("auto");
  std::ostringstream printed;
  source->Print(printed);
  Check(Contains(printed.str(), "Device: auto"), what + ": PrintSelf shows the Device");
  const std::string error = UpdateError([&] { source->Update(); });
  Check(error.empty(), what + ": sampling failed: " + error);
  if (!error.empty())
    return;
  const VolumeType *out = source->GetOutput();
  Check(itk::ImageIOBase::MapPixelType<SourceType::PixelType>::CType == itk::IOComponentEnum::SHORT,
        what + ": samples are short pixels");
  Check(out->GetSpacing() == phantom->GetSpacing() && out->GetOrigin() == phantom->GetOrigin() &&
          out->GetDirection() == phantom->GetDirection(),
        what + ": samples take the reference image's geometry");
  short lo = 32767, hi = -32768;
  for (itk::ImageRegionConstIterator<VolumeType> it(out, out->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    lo = std::min(lo, it.Get());
    hi = std::max(hi, it.Get());
  }
  std::cout << what << ": samples span [" << lo << ", " << hi << "]" << std::endl;
  Check(lo >= Background && hi <= Foreground && lo < hi,
        what + ": samples span [" + std::to_string(lo) + ", " + std::to_string(hi) + "], within the phantom's [" +
          std::to_string(Background) + ", " + std::to_string(Foreground) + "] and not constant");
}

} // namespace

int
main(int argc, char *argv[])
{
  if (argc < 2)
  {
    std::cerr << "Usage: " << argv[0] << " OUTPUT_DIR" << std::endl;
    return 1;
  }
  const std::string dir = argv[1];
  auto warningRecorder = WarningRecorder::New();
  itk::OutputWindow::SetInstance(warningRecorder);
  const DeviceReport autoDevice = ResolveHere(MG_DEVICE_AUTO);
  const VolumeType::Pointer phantom = MakePhantom();
  const std::string phantomFile = dir + "/trainer-phantom.nrrd";
  {
    auto writer = itk::ImageFileWriter<VolumeType>::New();
    writer->SetInput(phantom);
    writer->SetFileName(phantomFile);
    writer->Update();
  }

  // 1. reader -> trainer, one thread; progress rises monotonically to 1.
  const std::string ckptA = dir + "/trainer-a.safetensors";
  auto reader = itk::ImageFileReader<VolumeType>::New();
  reader->SetFileName(phantomFile);
  auto trainer = TinyDdpm(nullptr, ckptA, 7, 1);
  trainer->SetInput(reader->GetOutput());
  // Observers see the progress, the steps done and the last step's loss as training goes.
  std::vector<float> progress;
  bool stepAndLossSeen = true;
  auto recorder = itk::CStyleCommand::New();
  recorder->SetClientData(&progress);
  recorder->SetCallback([](itk::Object *caller, const itk::EventObject &, void *data) {
    static_cast<std::vector<float> *>(data)->push_back(static_cast<itk::ProcessObject *>(caller)->GetProgress());
  });
  trainer->AddObserver(itk::ProgressEvent(), recorder);
  unsigned int stepsSeen = 0;
  trainer->AddObserver(itk::ProgressEvent(), [&](const itk::EventObject &) {
    const unsigned int steps = trainer->GetCompletedIterations();
    stepAndLossSeen = stepAndLossSeen && steps >= stepsSeen && (steps == 0 || std::isfinite(trainer->GetLoss()));
    stepsSeen = steps;
  });
  std::string error = UpdateError([&] { trainer->Update(); });
  Check(error.empty(), "training from the reader failed: " + error);
  Check(trainer->GetCompletedIterations() == 6, "6 steps done");
  Check(trainer->GetNumberOfSlices() == 10, "all 10 slices kept, got " + std::to_string(trainer->GetNumberOfSlices()));
  Check(std::isfinite(trainer->GetLoss()) && trainer->GetLoss() > 0, "a finite positive loss");
  Check(!trainer->GetResumed(), "a new run is not resumed");
  bool monotonic = true;
  for (size_t i = 1; i < progress.size(); ++i)
    monotonic = monotonic && progress[i] >= progress[i - 1];
  Check(progress.size() >= 6 && monotonic && progress.back() == 1.0f,
        "progress: " + std::to_string(progress.size()) + " events, monotonic, ending at 1");
  Check(stepAndLossSeen && stepsSeen == 6, "each progress event sees the steps done so far and a finite loss");
  Check(Note(ckptA, "run.pixel_type") == "short", "run.pixel_type is short, got " + Note(ckptA, "run.pixel_type"));
  Check(Note(ckptA, "run.axis") == "axial", "run.axis is axial");
  Check(std::string(trainer->GetDevice()) == "auto", "MedGenTrainer's Device defaults to auto");
  Check(Note(ckptA, "run.device") == mg_device_name(autoDevice.resolved),
        std::string("run.device is where auto resolves (") + mg_device_name(autoDevice.resolved) + "), got " +
          Note(ckptA, "run.device"));
  // Axial slices are 24 x 0.8 mm by 20 x 0.8 mm: the longer side, 19.2 mm, spans 16 pixels.
  Check(std::fabs(std::stod(Note(ckptA, "run.mm_per_pixel")) - 1.2) < 1e-6,
        "run.mm_per_pixel is 1.2, got " + Note(ckptA, "run.mm_per_pixel"));
  trainer->Print(std::cout);

  // 2. The same seed from memory on two threads: the same bytes; another seed: other bytes.
  const std::string ckptB = dir + "/trainer-b.safetensors", ckptC = dir + "/trainer-c.safetensors";
  error = UpdateError([&] { TinyDdpm(phantom, ckptB, 7, 2)->Update(); });
  Check(error.empty(), "training from memory failed: " + error);
  error = UpdateError([&] { TinyDdpm(phantom, ckptC, 8, 2)->Update(); });
  Check(error.empty(), "training with seed 8 failed: " + error);
  const std::string bytesA = ReadBytes(ckptA);
  Check(!bytesA.empty() && bytesA == ReadBytes(ckptB), "same seed, 1 and 2 threads: byte-identical checkpoints");
  Check(bytesA != ReadBytes(ckptC), "another seed: another checkpoint");

  // With Resume off, a checkpoint of the same kind (seed 8's) is replaced by a new run.
  auto restart = TinyDdpm(phantom, dir + "/trainer-none.safetensors", 7, 2);
  restart->SetCheckpointFileName(ckptC);
  restart->ResumeOff();
  error = UpdateError([&] { restart->Update(); });
  Check(error.empty() && !restart->GetResumed() && ReadBytes(ckptC) == bytesA,
        "Resume off replaces the checkpoint with a new run: " + error);

  // 3. Samples in the phantom's type, range and geometry.
  CheckSamples(ckptA, phantom, "ddpm");

  // 4. Abort at step 3, then resume to the uninterrupted run's checkpoint.
  const std::string ckptR = dir + "/trainer-resumed.safetensors";
  auto resumed = TinyDdpm(phantom, ckptR, 7, 2);
  auto aborter = itk::CStyleCommand::New();
  aborter->SetCallback([](itk::Object *caller, const itk::EventObject &, void *) {
    auto *filter = static_cast<itk::ProcessObject *>(caller);
    if (std::lround(filter->GetProgress() * 6) == 3)
      filter->AbortGenerateDataOn();
  });
  const unsigned long abortTag = resumed->AddObserver(itk::ProgressEvent(), aborter);
  bool aborted = false;
  try
  {
    resumed->Update();
  }
  catch (const itk::ProcessAborted &e)
  {
    aborted = true;
    std::cout << "aborted as asked: " << e.GetDescription() << std::endl;
  }
  catch (const itk::ExceptionObject &e)
  {
    std::cout << "unexpected: " << e << std::endl;
  }
  Check(aborted, "an abort from a progress observer throws ProcessAborted");
  int64_t steps;
  int classes;
  CheckpointState(ckptR, "ddpm", steps, classes);
  Check(steps == 3 && resumed->GetCompletedIterations() == 3, "the aborted run left a checkpoint at step 3, got " +
                                                                  std::to_string(steps));
  resumed->RemoveObserver(abortTag);
  error = UpdateError([&] { resumed->Update(); });
  Check(error.empty(), "resuming failed: " + error);
  Check(resumed->GetResumed() && resumed->GetCompletedIterations() == 6, "the run resumed and did 6 steps");
  Check(ReadBytes(ckptR) == bytesA, "aborted and resumed: the uninterrupted run's checkpoint byte for byte");
  // Done already: another Update trains no more.
  error = UpdateError([&] { resumed->Update(); });
  Check(error.empty() && ReadBytes(ckptR) == bytesA, "a finished run stays as it is: " + error);

  // Resuming on other slices (coronal ones) is refused by the engine's data fingerprint.
  resumed->SetAxis("coronal");
  resumed->SetNumberOfIterations(8);
  error = UpdateError([&] { resumed->Update(); });
  Check(!error.empty() && ReadBytes(ckptR) == bytesA, "resuming on other data is refused: " + error);

  // 5. A tiny GAN.
  const std::string ckptGan = dir + "/trainer-gan.safetensors";
  std::remove(ckptGan.c_str());
  auto gan = TrainerType::New();
  gan->SetInput(0, phantom);
  gan->SetModelType("gan");
  gan->SetImageSize(32);
  gan->SetWidth(8);
  gan->SetNumberOfIterations(3);
  gan->SetBatchSize(4);
  gan->SetNumberOfThreads(2);
  gan->SetCheckpointFileName(ckptGan);
  error = UpdateError([&] { gan->Update(); });
  Check(error.empty(), "GAN training failed: " + error);
  CheckpointState(ckptGan, "gan", steps, classes);
  Check(steps == 3 && classes == 0, "the GAN checkpoint holds 3 steps, unconditional");
  CheckSamples(ckptGan, phantom, "gan");

  // 6. Refusals, each an itk::ExceptionObject with a message saying what is wrong.
  auto empty = TrainerType::New();
  empty->SetCheckpointFileName(dir + "/trainer-none.safetensors");
  error = UpdateError([&] { empty->Update(); });
  Check(Contains(error, "no input"), "no input: " + error);

  const std::string missingFile = dir + "/no-such-volume.nrrd";
  auto missingReader = itk::ImageFileReader<VolumeType>::New();
  missingReader->SetFileName(missingFile);
  error = UpdateError([&] { TinyDdpm(missingReader->GetOutput(), dir + "/trainer-none.safetensors", 1, 1)->Update(); });
  Check(Contains(error, missingFile), "a missing file is named: " + error);

  // A 4D file read as 3D: ITK's reader would keep only its first volume.
  const std::string file4D = dir + "/trainer-4d.nrrd";
  {
    using Volume4DType = itk::Image<short, 4>;
    auto image4D = Volume4DType::New();
    Volume4DType::SizeType size{ { 24, 20, 10, 2 } };
    image4D->SetRegions(size);
    image4D->Allocate();
    image4D->FillBuffer(Background);
    itk::EncapsulateMetaData<std::string>(image4D->GetMetaDataDictionary(), "MedGen", "synthetic");
    auto writer = itk::ImageFileWriter<Volume4DType>::New();
    writer->SetInput(image4D);
    writer->SetFileName(file4D);
    writer->Update();
  }
  auto reader4D = itk::ImageFileReader<VolumeType>::New();
  reader4D->SetFileName(file4D);
  error = UpdateError([&] { TinyDdpm(reader4D->GetOutput(), dir + "/trainer-none.safetensors", 1, 1)->Update(); });
  Check(Contains(error, file4D) && Contains(error, "4D"), "a 4D file is refused: " + error);

  auto otherKind = TinyDdpm(phantom, dir + "/trainer-none.safetensors", 1, 1);
  otherKind->SetCheckpointFileName(ckptGan);
  const std::string ganBytes = ReadBytes(ckptGan);
  error = UpdateError([&] { otherKind->Update(); });
  Check(Contains(error, "holds a gan checkpoint") && ReadBytes(ckptGan) == ganBytes,
        "a GAN checkpoint is not resumed or overwritten by a DDPM: " + error);
  otherKind->ResumeOff();
  error = UpdateError([&] { otherKind->Update(); });
  Check(Contains(error, "holds a gan checkpoint") && ReadBytes(ckptGan) == ganBytes,
        "nor with Resume off: " + error);

  const std::string phantomBytes = ReadBytes(phantomFile);
  auto notCheckpoint = TrainerType::New();
  notCheckpoint->SetInput(0, phantom);
  notCheckpoint->SetCheckpointFileName(phantomFile);
  notCheckpoint->ResumeOff();
  error = UpdateError([&] { notCheckpoint->Update(); });
  Check(Contains(error, phantomFile) && Contains(error, "does not overwrite") && ReadBytes(phantomFile) == phantomBytes,
        "a file that is no checkpoint is left untouched: " + error);

  auto mixed = TinyDdpm(phantom, dir + "/trainer-none.safetensors", 1, 1);
  mixed->SetInput(0, phantom, "disc");
  mixed->AddTrainingImage(phantom);
  error = UpdateError([&] { mixed->Update(); });
  Check(Contains(error, "input 1") && Contains(error, "class"), "a class-name mix: " + error);

  auto cuda = TinyDdpm(phantom, dir + "/trainer-none.safetensors", 1, 1);
  const DeviceReport cudaDevice = ResolveHere(MG_DEVICE_CUDA);
  if (!cudaDevice.usable) // with a usable GPU it would train
  {
    cuda->SetDevice("cuda");
    error = UpdateError([&] { cuda->Update(); });
    Check(!cudaDevice.note.empty() && Contains(error, cudaDevice.note),
          "Device cuda fails with the engine's reason (" + cudaDevice.note + "): " + error);
  }
  cuda->SetDevice("bogus");
  error = UpdateError([&] { cuda->Update(); });
  Check(Contains(error, "Device \"bogus\"") && Contains(error, "auto, cpu or cuda"),
        "an unknown Device names itself and the allowed ones: " + error);

  gan->SetImageSize(24);
  gan->SetCheckpointFileName(dir + "/trainer-none.safetensors");
  error = UpdateError([&] { gan->Update(); });
  Check(Contains(error, "image_size"), "a GAN of 24 pixels: " + error);
  std::ifstream none(dir + "/trainer-none.safetensors");
  Check(!none.good(), "failed runs leave no checkpoint");

  // 7. A label map: the bottom 4 slices label 0, the next 3 label 2, the top 3 label 5.
  auto labelMap = LabelMapType::New();
  labelMap->CopyInformation(phantom);
  labelMap->SetRegions(phantom->GetLargestPossibleRegion());
  labelMap->Allocate();
  for (itk::ImageRegionIteratorWithIndex<LabelMapType> it(labelMap, labelMap->GetLargestPossibleRegion());
       !it.IsAtEnd(); ++it)
    it.Set(it.GetIndex()[2] < 4 ? 0.0f : it.GetIndex()[2] < 7 ? 2.0f : 5.0f);
  const std::string ckptLabels = dir + "/trainer-labels.safetensors";
  auto labelled = TinyDdpm(phantom, ckptLabels, 1, 2);
  labelled->SetLabelMap(0, labelMap);
  error = UpdateError([&] { labelled->Update(); });
  Check(error.empty(), "training with a label map failed: " + error);
  CheckpointState(ckptLabels, "ddpm", steps, classes);
  Check(classes == 3, "the label map gives 3 classes (background, label 2, label 5), got " + std::to_string(classes));

  // Class names: two inputs, two classes.
  const std::string ckptNamed = dir + "/trainer-named.safetensors";
  auto named = TinyDdpm(phantom, ckptNamed, 1, 2);
  named->SetInput(0, phantom, "disc");
  named->AddTrainingImage(reader->GetOutput(), "disc from file");
  error = UpdateError([&] { named->Update(); });
  Check(error.empty() && named->GetNumberOfSlices() == 20, "training on two named classes failed: " + error);
  CheckpointState(ckptNamed, "ddpm", steps, classes);
  Check(classes == 2, "two class names give 2 classes, got " + std::to_string(classes));

  // Every filter above updated on Device auto: the engine's note, when it has one, was shown once.
  size_t notes = 0, withReason = 0;
  for (const std::string &warning : warningRecorder->warnings)
  {
    notes += Contains(warning, "Device \"auto\"") ? 1 : 0;
    withReason += Contains(warning, "Device \"auto\"") && Contains(warning, autoDevice.note) ? 1 : 0;
  }
  const size_t expected = autoDevice.note.empty() ? 0 : 1;
  Check(notes == expected && withReason == notes,
        "auto's device note (\"" + autoDevice.note + "\") shown " + std::to_string(notes) + " times, expected " +
          std::to_string(expected));
  return medgen_test::Finish();
}
