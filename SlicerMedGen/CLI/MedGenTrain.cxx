// MedGenTrain: the Slicer CLI module that trains a MedGen model (a diffusion model or a GAN, itk::MedGenTrainer) on
// up to three volumes, or on one volume with a label map that gives each slice its class, and writes the checkpoint
// that MedGenSample draws from. With monitorDirectory it also writes its progress, loss history and previews there
// for a GUI to poll (medgenTrainingMonitor.h).
//
// Slicer cancels a module by killing it. Training writes the checkpoint every checkpointInterval steps (atomically:
// a kill leaves the previous one whole), and a rerun with the same arguments continues from the last one, saying
// "resuming from step N"; a resumed run ends with the same checkpoint as an uninterrupted one. restart starts over.
//
// The volumes are read with their own pixel type where it is one MedGen writes back (unsigned char, short, unsigned
// short, int, float; any other type, or volumes of different types, as float), so the checkpoint records it and
// MedGenSample's synthetic volumes come back in the same type and units.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageIOFactory.h"
#include "itkMedGenTrainer.h"
#include "itksys/SystemTools.hxx"
#include "medgen.h"
#include "medgenCLI.h"
#include "medgenTrainingMonitor.h"
#include "medgenVolumeSlices.h"

namespace
{
using namespace medgen::cli;

const char *const VolumeFlags[] = { "inputVolume", "inputVolume2", "inputVolume3" };

Description
TrainDescription()
{
  Description d = MedGenDescription(
    "MedGenTrain", "MedGen Train",
    "Trains a generative model (a DDPM diffusion model or a GAN) on 2D slices of your volumes, cut along a patient "
    "axis, and writes it as a checkpoint for MedGen Sample. Cancelling keeps the last checkpoint: running again with "
    "the same settings continues from it.");
  ParameterGroup io{ "Input and output",
                     "The volumes to learn from and the model file.",
                     false,
                     { PathParameter(ParameterType::Image, "inputVolume", "Input volume",
                                     "A volume to learn from (CT, MRI, ...): its slices along the axis.",
                                     Channel::Input, true),
                       PathParameter(ParameterType::Image, "inputVolume2", "Second input volume",
                                     "Optional: another volume of the same kind.", Channel::Input, false),
                       PathParameter(ParameterType::Image, "inputVolume3", "Third input volume",
                                     "Optional: another volume of the same kind.", Channel::Input, false),
                       PathParameter(ParameterType::Image, "labelMap", "Label map",
                                     "Optional, with a single input volume: a label map aligned with it. Each slice's "
                                     "class is the label covering it (\"label 2\", ...; \"background\" where none), "
                                     "and the model learns to draw each class.",
                                     Channel::Input, false),
                       PathParameter(ParameterType::File, "outputModel", "Model",
                                     "The checkpoint (.safetensors), written during training. When it exists, "
                                     "training continues from it (unless Restart is on).",
                                     Channel::Output, true) } };
  io.parameters[3].labelMap = true;
  io.parameters[4].fileExtensions = ".safetensors";
  d.groups.push_back(io);
  d.groups.push_back(
    { "Model",
      "What to train. A size, step count or batch of 0 takes the preset's.",
      false,
      { EnumerationParameter("modelType", "Model type",
                             "ddpm: a diffusion model (slower to sample, most faithful); gan: a GAN (one pass per "
                             "image).",
                             { "ddpm", "gan" }),
        EnumerationParameter("preset", "Preset",
                             "fast: a 4.6 M-parameter UNet (diffusion) or DCGAN, 64x64 slices, 3000 steps; quality: "
                             "MONAI's tutorial UNet at 64x64 (diffusion) or a DCGAN at 128x128, 20000 steps (a GPU "
                             "helps).",
                             { "fast", "quality" }),
        EnumerationParameter("axis", "Slice axis", "The patient axis the volumes are cut along.",
                             { "axial", "coronal", "sagittal" }),
        IntegerParameter("imageSize", "Slice size",
                         "Slices are resampled to this many pixels square (aspect ratio kept by padding). 0: the "
                         "preset's. Diffusion: 8 to 256, a multiple of 4; GAN: 32, 64, 128 or 256.",
                         0, 0, 256),
        IntegerParameter("iterations", "Training steps", "Total training steps. 0: the preset's.", 0, 0, 100000000),
        IntegerParameter("batchSize", "Batch size", "Slices per training step. 0: the preset's.", 0, 0, 1024),
        IntegerParameter("seed", "Seed", "Random seed of the weights, batches and noise.", 1, 0, 2147483647) } });
  d.groups.push_back({ "Intensity",
                       "How voxel values are scaled for the model (samples come back in the same units).",
                       false,
                       { BooleanParameter("useWindow", "Use a fixed window",
                                          "Scale [Window minimum, Window maximum] (e.g. CT -1000..1000 HU) instead of "
                                          "the volumes' 0.5 and 99.5 percentiles."),
                         DoubleParameter("windowMin", "Window minimum", "Lowest value kept.", -1000, -1e9, 1e9, 1),
                         DoubleParameter("windowMax", "Window maximum", "Highest value kept.", 1000, -1e9, 1e9, 1) } });
  d.groups.push_back(
    { "Run",
      "Where and how training runs.",
      true,
      { EnumerationParameter("device", "Device",
                             "auto: the CUDA GPU when this build of MedGen has the CUDA backend and the machine a "
                             "usable GPU, else the CPU (a build with the backend says why in a warning). cuda: fails, "
                             "with the reason, when no GPU can be used.",
                             { "auto", "cpu", "cuda" }),
        IntegerParameter("threads", "CPU threads", "0: all cores. Results do not depend on it.", 0, 0, 1024),
        BooleanParameter("restart", "Restart",
                         "Start over even when the model file holds an earlier run (which is then replaced)."),
        IntegerParameter("checkpointInterval", "Checkpoint interval",
                         "Steps between checkpoints: a cancelled run loses at most this many.", 100, 1, 100000000),
        DoubleParameter("learningRate", "Learning rate", "0: the model type's default.", 0, 0, 1, 1e-5),
        PathParameter(ParameterType::Directory, "monitorDirectory", "Monitor folder",
                      "Optional: a folder (created when missing) where training reports as it runs, for a viewer "
                      "to poll: progress.json (state, step, loss, time left, message), loss.csv (every step's loss) "
                      "and preview.nrrd (16 images drawn from the newest checkpoint, marked synthetic). A failed "
                      "run leaves state \"failed\" and its message there.",
                      Channel::Output, false),
        IntegerParameter("previewSeconds", "Seconds between previews",
                         "With a monitor folder: the least time between two previews (drawing one pauses "
                         "training); 0: one at every checkpoint. The end of the run always draws one.",
                         30, 0, 100000000) } });
  d.groups.push_back(
    { "Network size",
      "Smaller or larger networks than the preset's (small ones train in seconds, for trials and tests).",
      true,
      { IntegerParameter("baseChannels", "UNet base channels",
                         "Diffusion models: the UNet's channels at full resolution (even); 0: the preset's.", 0, 0,
                         512),
        IntegerParameter("width", "GAN width", "GANs: the networks' channels at full resolution (4 or more); 0: "
                         "the preset's.", 0, 0, 512) } });
  return d;
}

// What a run trains: the network, slice size, steps and batch.
struct Preset
{
  const char *network;
  long imageSize, iterations, batchSize;
};

// The preset's, with the slice size, steps and batch the arguments set (0: the preset's).
Preset
RunPreset(const Arguments &args)
{
  const bool quality = args.String("preset") == "quality";
  Preset run;
  if (args.String("modelType") == "gan")
    run = quality ? Preset{ "dcgan-64", 128, 20000, 32 } : Preset{ "dcgan-64", 64, 3000, 32 };
  else
    run = quality ? Preset{ "unet-monai", 64, 20000, 32 } : Preset{ "unet-s", 64, 3000, 16 };
  if (args.Integer("imageSize"))
    run.imageSize = args.Integer("imageSize");
  if (args.Integer("iterations"))
    run.iterations = args.Integer("iterations");
  if (args.Integer("batchSize"))
    run.batchSize = args.Integer("batchSize");
  return run;
}

// Where a run reports: Slicer's progress lines and, with monitorDirectory, the monitor folder (whose message is the
// latest comment).
struct Reports
{
  ProgressPrinter &progress;
  TrainingMonitor &monitor;
  void
  Comment(const std::string &text)
  {
    progress.Comment(text);
    monitor.Comment(text);
  }
};

// The component type of a volume file ("short", "float", ...), after checking that MedGen can train on it.
std::string
VolumeComponentType(const std::string &path)
{
  if (!itksys::SystemTools::FileExists(path, true))
    throw std::runtime_error(path + ": no such file");
  itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io)
    throw std::runtime_error(path + ": not an image format ITK can read");
  io->SetFileName(path);
  try
  {
    io->ReadImageInformation();
  }
  catch (const itk::ExceptionObject &e)
  {
    throw std::runtime_error(path + ": " + e.GetDescription());
  }
  medgen::CheckSingleChannel(path, *io);
  return itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
}

// The step a run kept in path stopped at, when it is a checkpoint of modelType that training will continue; -1
// otherwise (the trainer refuses files it would not continue, naming the problem).
long
ResumedStep(const std::string &path, const std::string &modelType)
{
  mg_checkpoint *ckpt = nullptr;
  char err[1024] = "";
  if (mg_checkpoint_load(path.c_str(), &ckpt, err, sizeof err) != MG_OK)
    return -1;
  const char *type = mg_checkpoint_model_type(ckpt);
  const char *step = mg_checkpoint_metadata(ckpt, "step");
  const long done = type && modelType == type && step ? std::atol(step) : -1;
  mg_checkpoint_free(ckpt);
  return done;
}

template <typename TPixel>
void
Train(const Arguments &args, const std::vector<std::string> &volumes, const Preset &preset, Reports &reports)
{
  using ImageType = itk::Image<TPixel, 3>;
  using TrainerType = itk::MedGenTrainer<ImageType>;
  auto trainer = TrainerType::New();
  std::vector<typename itk::ImageFileReader<ImageType>::Pointer> readers;
  for (const std::string &path : volumes)
  {
    readers.push_back(itk::ImageFileReader<ImageType>::New());
    readers.back()->SetFileName(path);
    trainer->AddTrainingImage(readers.back()->GetOutput());
  }
  auto labelReader = itk::ImageFileReader<typename TrainerType::LabelMapType>::New();
  if (!args.String("labelMap").empty())
  {
    labelReader->SetFileName(args.String("labelMap"));
    trainer->SetLabelMap(0, labelReader->GetOutput());
  }
  const long iterations = preset.iterations;
  trainer->SetModelType(args.String("modelType"));
  trainer->SetPreset(preset.network);
  trainer->SetBaseChannels(static_cast<unsigned int>(args.Integer("baseChannels")));
  trainer->SetWidth(static_cast<unsigned int>(args.Integer("width")));
  trainer->SetAxis(args.String("axis"));
  trainer->SetImageSize(static_cast<unsigned int>(preset.imageSize));
  trainer->SetNumberOfIterations(static_cast<unsigned int>(iterations));
  trainer->SetBatchSize(static_cast<unsigned int>(preset.batchSize));
  trainer->SetSeed(static_cast<uint64_t>(args.Integer("seed")));
  trainer->SetUseIntensityWindow(args.Boolean("useWindow"));
  trainer->SetWindowMinimum(args.Double("windowMin"));
  trainer->SetWindowMaximum(args.Double("windowMax"));
  trainer->SetDevice(args.String("device"));
  trainer->SetNumberOfThreads(static_cast<int>(args.Integer("threads")));
  trainer->SetCheckpointFileName(args.String("outputModel"));
  trainer->SetCheckpointInterval(static_cast<unsigned int>(args.Integer("checkpointInterval")));
  trainer->SetLearningRate(args.Double("learningRate"));
  trainer->SetResume(!args.Boolean("restart"));

  // Progress as it comes, and a comment twenty times per run.
  reports.progress.Watch(trainer);
  reports.monitor.Watch(trainer.GetPointer());
  const long commentEvery = std::max(1L, iterations / 20);
  long lastComment = -1;
  trainer->AddObserver(itk::ProgressEvent(), [&](const itk::EventObject &) {
    const long step = static_cast<long>(trainer->GetCompletedIterations());
    if (step > 0 && step % commentEvery == 0 && step != lastComment)
    {
      lastComment = step;
      std::ostringstream line;
      line << "step " << step << " of " << iterations << ", loss " << trainer->GetLoss();
      reports.Comment(line.str());
    }
  });
  trainer->Update();
  const double loss = trainer->GetLoss(); // NaN when the run had no steps left
  reports.Comment("trained " + std::to_string(trainer->GetCompletedIterations()) + " steps on " +
                  std::to_string(trainer->GetNumberOfSlices()) + " slices" +
                  (std::isnan(loss) ? "" : ", last loss " + std::to_string(loss)) + "; model written to " +
                  args.String("outputModel"));
  reports.monitor.Finish(trainer->GetCompletedIterations(), loss, trainer->GetNumberOfSlices());
}

// Checks the inputs, then trains on them with their pixel type.
void
CheckAndTrain(const Arguments &args, const Preset &preset, Reports &reports)
{
  std::vector<std::string> volumes;
  for (const char *flag : VolumeFlags)
    if (!args.String(flag).empty())
      volumes.push_back(args.String(flag));
  if (!args.String("labelMap").empty() && volumes.size() > 1)
    throw std::runtime_error("a label map goes with a single input volume (inputVolume2 or inputVolume3 is set)");
  const long size = args.Integer("imageSize");
  if (size != 0 && size < 8)
    throw std::runtime_error("imageSize " + std::to_string(size) + " is too small (0: the preset's, or 8 to 256)");

  // One pixel type for all volumes: theirs when they share one MedGen writes back, else float.
  std::string type;
  for (const std::string &path : volumes)
  {
    const std::string t = VolumeComponentType(path);
    type = type.empty() || type == t ? t : "float";
  }
  if (!args.String("labelMap").empty())
    VolumeComponentType(args.String("labelMap"));

  const std::string &model = args.String("outputModel");
  const long resumedStep = args.Boolean("restart") ? -1 : ResumedStep(model, args.String("modelType"));
  if (resumedStep >= 0)
  {
    reports.Comment("resuming from step " + std::to_string(resumedStep) + " (" + model + ")");
    reports.monitor.Resuming(resumedStep);
  }
  if (type == "unsigned_char" || type == "unsigned char")
    Train<unsigned char>(args, volumes, preset, reports);
  else if (type == "short")
    Train<short>(args, volumes, preset, reports);
  else if (type == "unsigned_short" || type == "unsigned short")
    Train<unsigned short>(args, volumes, preset, reports);
  else if (type == "int")
    Train<int>(args, volumes, preset, reports);
  else
    Train<float>(args, volumes, preset, reports);
}

void
Run(const Arguments &args)
{
  const std::string start = "training a " + args.String("modelType") + " model (" + args.String("preset") + ") on " +
                            args.String("inputVolume");
  ProgressPrinter progress;
  progress.Start("MedGenTrain", start);
  const Preset preset = RunPreset(args);
  MonitorSettings settings;
  settings.directory = args.String("monitorDirectory");
  settings.model = args.String("outputModel");
  settings.totalSteps = preset.iterations;
  settings.checkpointInterval = args.Integer("checkpointInterval");
  settings.previewSeconds = args.Integer("previewSeconds");
  settings.device = args.String("device");
  settings.threads = static_cast<int>(args.Integer("threads"));
  TrainingMonitor monitor(settings, start);
  Reports reports{ progress, monitor };
  // A failure is reported in the monitor folder too, then ends the program as any other.
  try
  {
    CheckAndTrain(args, preset, reports);
  }
  catch (const itk::ExceptionObject &e)
  {
    monitor.Fail(e.GetDescription());
    throw;
  }
  catch (const std::exception &e)
  {
    monitor.Fail(e.what());
    throw;
  }
  progress.Progress(1.0);
  progress.End();
}

} // namespace

int
main(int argc, char *argv[])
{
  return Main(TrainDescription(), argc, argv, Run);
}
