// vtkMedGenLogic with the real CLI modules on a small real volume (a crop of mricron's Colin-27 brain MRI; a
// generated volume where it is absent): refusals (no volume, four volumes, a missing program, a second start while
// running, sampling without a model), a tiny GAN trained to Finished (status fields, one loss point per step, the
// preview), a run cancelled after its first checkpoint and resumed (the loss history covers every step once), a run
// that fails (MedGenTrain's message), sampling with a seed, synthetic volumes on the source's grid, and exports that
// keep the synthetic mark.
// Usage: vtkMedGenLogicTest <scratch dir> <folder of MedGenTrain and MedGenSample> <ch2.nii.gz (skipped if absent)>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "itkTestCheck.h"
#include "medgenVtkVolumes.h"
#include "vtkImageData.h"
#include "vtkMatrix4x4.h"
#include "vtkMedGenLogic.h"
#include "vtkNew.h"
#include "vtkPointData.h"
#include "vtkSmartPointer.h"
#include "vtksys/SystemTools.hxx"

using medgen_test::Check;
using medgen_test::Format;

static std::string g_Scratch, g_CLI;

static std::string
Scratch(const std::string &name)
{
  return g_Scratch + "/" + name;
}

static bool
Contains(const std::string &text, const std::string &part)
{
  return text.find(part) != std::string::npos;
}

// The training volume: a volume and its IJK-to-RAS matrix.
struct Volume
{
  vtkSmartPointer<vtkImageData> image = vtkSmartPointer<vtkImageData>::New();
  vtkSmartPointer<vtkMatrix4x4> ijkToRAS = vtkSmartPointer<vtkMatrix4x4>::New();
};

// The brain's middle (140 x 176 x 40 voxels, 40 axial slices): a quick run that still learns from real anatomy.
static bool
CroppedBrain(const std::string &path, Volume &volume)
{
  vtkNew<vtkImageData> whole;
  vtkNew<vtkMatrix4x4> wholeIJKToRAS;
  std::string error;
  if (!medgen::ReadVolume(path, whole, wholeIJKToRAS, error))
  {
    Check(false, "reading the brain MRI: " + error);
    return false;
  }
  int dims[3];
  whole->GetDimensions(dims);
  const int start[3] = { 20, 20, 60 }, size[3] = { 140, 176, 40 };
  if (dims[0] < start[0] + size[0] || dims[1] < start[1] + size[1] || dims[2] < start[2] + size[2])
  {
    Check(false, Format("the brain MRI is %d x %d x %d voxels, smaller than expected", dims[0], dims[1], dims[2]));
    return false;
  }
  volume.image->SetDimensions(size[0], size[1], size[2]);
  volume.image->AllocateScalars(whole->GetScalarType(), 1);
  const int bytes = whole->GetScalarSize();
  for (int k = 0; k < size[2]; ++k)
    for (int j = 0; j < size[1]; ++j)
      std::memcpy(volume.image->GetScalarPointer(0, j, k),
                  whole->GetScalarPointer(start[0], j + start[1], k + start[2]),
                  static_cast<size_t>(size[0] * bytes));
  // Voxel (0, 0, 0) of the crop is voxel start of the whole.
  vtkNew<vtkMatrix4x4> shift;
  for (int r = 0; r < 3; ++r)
    shift->SetElement(r, 3, start[r]);
  vtkMatrix4x4::Multiply4x4(wholeIJKToRAS, shift, volume.ijkToRAS);
  return true;
}

// Smooth blobs in an unsigned char volume, 1.5 mm voxels: for machines without the brain MRI.
static void
GeneratedVolume(Volume &volume)
{
  volume.image->SetDimensions(48, 40, 24);
  volume.image->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
  auto *voxels = static_cast<unsigned char *>(volume.image->GetScalarPointer());
  for (int k = 0, n = 0; k < 24; ++k)
    for (int j = 0; j < 40; ++j)
      for (int i = 0; i < 48; ++i, ++n)
        voxels[n] = static_cast<unsigned char>(120 + 60 * std::sin(i / 5.0 + k / 7.0) * std::cos(j / 6.0));
  for (int r = 0; r < 3; ++r)
    volume.ijkToRAS->SetElement(r, r, 1.5);
}

// Polls training until it is no longer Running (at most two minutes, so a hang fails instead of blocking ctest),
// or until stop says so.
template <typename Stop>
static vtkMedGenLogic::TrainingStatus
PollTrainingUntil(vtkMedGenLogic *logic, Stop stop)
{
  const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  vtkMedGenLogic::TrainingStatus status = logic->PollTraining();
  while (status.state == vtkMedGenLogic::Running && !stop(status) && std::chrono::steady_clock::now() < until)
  {
    vtksys::SystemTools::Delay(5);
    status = logic->PollTraining();
  }
  return status;
}

static vtkMedGenLogic::TrainingStatus
PollTrainingToEnd(vtkMedGenLogic *logic)
{
  return PollTrainingUntil(logic, [](const vtkMedGenLogic::TrainingStatus &) { return false; });
}

static vtkMedGenLogic::TrainingSettings
TinyGan(int iterations)
{
  vtkMedGenLogic::TrainingSettings settings;
  settings.modelType = "gan";
  settings.imageSize = 32;
  settings.width = 8;
  settings.iterations = iterations;
  settings.batchSize = 8;
  settings.checkpointInterval = 10;
  settings.previewSeconds = 0;
  settings.device = "cpu";
  settings.threads = 1; // no OpenMP barriers to stall on a busy machine
  return settings;
}

// The loss history holds steps 1..total, each once, in order, all finite.
static void
CheckLossHistory(vtkMedGenLogic *logic, long total, const std::string &run)
{
  const auto &history = logic->GetLossHistory();
  Check(static_cast<long>(history.size()) == total,
        Format("%s: %zu loss points for %ld steps", run.c_str(), history.size(), total));
  bool inOrder = true, finite = true;
  for (size_t i = 0; i < history.size(); ++i)
  {
    inOrder = inOrder && history[i].first == static_cast<long>(i) + 1;
    finite = finite && std::isfinite(history[i].second);
  }
  Check(inOrder, run + ": the loss history has steps 1, 2, 3, ... each once");
  Check(finite, run + ": every loss is finite");
}

// loss.csv rewritten under the logic, as MedGenTrain does on resume (shorter) and on restart (anew): the history
// follows the file. (A real resume rewrites the same bytes, its runs being bit-identical, so it cannot show this.)
static void
TestLossFileRewritten(vtkMedGenLogic *logic)
{
  const std::string path = Scratch("work/monitor/loss.csv");
  const auto write = [&](const std::string &text, std::ios::openmode mode) {
    std::ofstream(path, std::ios::binary | mode) << text;
  };
  write("step,loss\n1,0.5\n2,0.25\n3,0.125\n", std::ios::trunc);
  logic->PollTraining();
  Check(logic->GetLossHistory().size() == 3 && logic->GetLossHistory().back() == std::make_pair(3L, 0.125),
        Format("a shorter file is read from its start (%zu points)", logic->GetLossHistory().size()));
  write("4,0.0625\n5,0.03", std::ios::app);
  logic->PollTraining();
  Check(logic->GetLossHistory().size() == 4 && logic->GetLossHistory().back() == std::make_pair(4L, 0.0625),
        Format("a new whole line is read, half a line is not (%zu points)", logic->GetLossHistory().size()));
  write("step,loss\n1,0.7\n2,0.6\n3,0.500\n4,0.4000\n5,0.03125\n", std::ios::trunc); // longer, other values
  logic->PollTraining();
  const auto &history = logic->GetLossHistory();
  Check(history.size() == 5 && history.front() == std::make_pair(1L, 0.7) && history.back().second == 0.03125,
        Format("a file rewritten with other lines is read anew (%zu points)", history.size()));
}

static void
TestRefusals(const Volume &volume)
{
  vtkNew<vtkMedGenLogic> logic;
  logic->SetCLIDirectory(g_CLI.c_str());
  logic->SetWorkDirectory(Scratch("refusals").c_str());
  Check(logic->PollTraining().state == vtkMedGenLogic::NotStarted, "a new logic has not started training");
  Check(!logic->StartTraining(TinyGan(40), true), "no training without a volume");
  Check(Contains(logic->GetErrorText(), "no training volume"), "saying so: " + logic->GetErrorText());

  vtkNew<vtkImageData> rgb;
  rgb->SetDimensions(8, 8, 8);
  rgb->AllocateScalars(VTK_UNSIGNED_CHAR, 3);
  Check(logic->AddTrainingVolume(rgb, volume.ijkToRAS, "colour") == -1, "a three-component volume is refused");
  Check(Contains(logic->GetErrorText(), "colour: 3 components"), "naming it: " + logic->GetErrorText());
  vtkNew<vtkImageData> empty;
  Check(logic->AddTrainingVolume(empty, volume.ijkToRAS, "empty") == -1, "a volume without voxels is refused");
  for (int i = 0; i < 3; ++i)
    Check(logic->AddTrainingVolume(volume.image, volume.ijkToRAS, "brain" + std::to_string(i)) == i,
          Format("volume %d is added with index %d", i, i));
  Check(logic->AddTrainingVolume(volume.image, volume.ijkToRAS, "brain3") == -1, "a fourth volume is refused");
  Check(Contains(logic->GetErrorText(), "brain3") && Contains(logic->GetErrorText(), "at most three"),
        "saying why: " + logic->GetErrorText());
  Check(logic->GetNumberOfTrainingVolumes() == 3 && logic->GetTrainingVolumeName(2) == "brain2" &&
          logic->GetTrainingVolumeName(3).empty(),
        "three volumes and their names");
  Check(!logic->SetTrainingLabelMap(volume.image, volume.ijkToRAS, "labels"), "a label map needs a single volume");
  logic->ClearTrainingInput();
  Check(logic->GetNumberOfTrainingVolumes() == 0, "ClearTrainingInput removes the volumes");

  logic->AddTrainingVolume(volume.image, volume.ijkToRAS, "brain");
  logic->SetCLIDirectory(Scratch("no-cli-here").c_str());
  Check(!logic->StartTraining(TinyGan(40), true), "a CLI folder without MedGenTrain is refused");
  Check(Contains(logic->GetErrorText(), Scratch("no-cli-here/MedGenTrain")),
        "naming the missing program: " + logic->GetErrorText());
  Check(logic->PollTraining().state == vtkMedGenLogic::NotStarted, "nothing started");

  logic->SetCLIDirectory(g_CLI.c_str());
  Check(!logic->ResumeTraining() && Contains(logic->GetErrorText(), "start training first"),
        "nothing to resume before a start: " + logic->GetErrorText());
  Check(!logic->StartSampling(vtkMedGenLogic::SamplingSettings()), "no sampling without a model");
  Check(Contains(logic->GetErrorText(), "no model"), "saying so: " + logic->GetErrorText());
  vtkNew<vtkImageData> slices;
  Check(!logic->LoadSamples(slices) && !logic->LoadTrainingPreview(slices), "nothing to load yet");
  Check(logic->GetModelFileName().empty() && logic->GetClassNames().empty(), "no model, no classes");
}

// A run MedGenTrain refuses (a GAN's slices must be a power of two): Failed, with its message.
static void
TestFailedRun(vtkMedGenLogic *logic)
{
  vtkMedGenLogic::TrainingSettings settings = TinyGan(40);
  settings.imageSize = 48;
  Check(logic->StartTraining(settings, true), "a run with a bad size starts: " + logic->GetErrorText());
  const vtkMedGenLogic::TrainingStatus status = PollTrainingToEnd(logic);
  Check(status.state == vtkMedGenLogic::Failed, Format("it fails (state %d)", status.state));
  Check(Contains(status.message, "image_size = 48"), "with MedGenTrain's reason: " + status.message);
}

static void
TestTrainAndSample(const Volume &volume)
{
  vtkNew<vtkMedGenLogic> logic;
  logic->SetCLIDirectory(g_CLI.c_str());
  logic->SetWorkDirectory(Scratch("work").c_str());
  Check(logic->AddTrainingVolume(volume.image, volume.ijkToRAS, "brain") == 0, "the volume is added");
  TestFailedRun(logic);

  // A tiny GAN, 40 steps.
  const long total = 40;
  Check(logic->StartTraining(TinyGan(total), true), "training starts: " + logic->GetErrorText());
  Check(!logic->StartTraining(TinyGan(total), true), "a second start is refused while training runs");
  Check(Contains(logic->GetErrorText(), "running"), "saying so: " + logic->GetErrorText());
  Check(!logic->ResumeTraining(), "so is a resume");
  Check(vtksys::SystemTools::FileExists(Scratch("work/inputs/volume0.nrrd"), true), "the input is written");
  vtkMedGenLogic::TrainingStatus status = PollTrainingToEnd(logic);
  Check(status.state == vtkMedGenLogic::Finished, Format("training finishes (state %d: %s)", status.state,
                                                         status.message.c_str()));
  Check(status.step == total && status.total == total, Format("step %ld of %ld", status.step, status.total));
  Check(std::isfinite(status.loss), Format("a last loss (%g)", status.loss));
  Check(status.elapsedSeconds > 0 && status.etaSeconds == 0,
        Format("elapsed %g s, eta %g s at the end", status.elapsedSeconds, status.etaSeconds));
  Check(status.previewStep == total, Format("the last preview shows step %ld", status.previewStep));
  Check(Contains(status.message, "trained 40 steps"), "the last comment: " + status.message);
  CheckLossHistory(logic, total, "the first run");
  if (!logic->GetLossHistory().empty())
    Check(std::fabs(logic->GetLossHistory().back().second - status.loss) <= 1e-6 * std::fabs(status.loss),
          "the last loss point is progress.json's loss");
  vtkNew<vtkImageData> preview;
  Check(logic->LoadTrainingPreview(preview), "the preview loads: " + logic->GetErrorText());
  int dims[3];
  preview->GetDimensions(dims);
  Check(dims[0] == 32 && dims[1] == 32 && dims[2] == 16, Format("16 slices of 32 x 32 (%d %d %d)", dims[0], dims[1],
                                                                dims[2]));
  Check(preview->GetOrigin()[0] == 0 && preview->GetSpacing()[0] == 1, "origin 0, spacing 1");
  Check(logic->GetModelFileName() == vtksys::SystemTools::CollapseFullPath(Scratch("work/model.safetensors")),
        "the model file: " + logic->GetModelFileName());
  Check(logic->GetClassNames().empty() && logic->GetErrorText().empty(),
        "an unconditional model has no classes: " + logic->GetErrorText());

  TestLossFileRewritten(logic);

  // Cancelled after its first checkpoint and resumed: MedGenTrain trims loss.csv back to the checkpoint, the logic
  // notices and the history still holds every step once.
  const long longTotal = 200;
  Check(logic->StartTraining(TinyGan(longTotal), true), "a longer run starts: " + logic->GetErrorText());
  status = PollTrainingUntil(logic, [](const vtkMedGenLogic::TrainingStatus &s) { return s.step > 15; });
  Check(status.state == vtkMedGenLogic::Running && status.step > 15 && status.step < longTotal,
        Format("running past its first checkpoint (state %d, step %ld)", status.state, status.step));
  logic->CancelTraining();
  status = logic->PollTraining();
  Check(status.state == vtkMedGenLogic::Cancelled, Format("cancelled (state %d)", status.state));
  Check(!logic->GetLossHistory().empty(), "the loss history so far is kept");
  Check(logic->ResumeTraining(), "training resumes: " + logic->GetErrorText());
  status = PollTrainingToEnd(logic);
  Check(status.state == vtkMedGenLogic::Finished, Format("the resumed run finishes (state %d: %s)", status.state,
                                                         status.message.c_str()));
  Check(status.step == longTotal && status.total == longTotal, Format("step %ld of %ld", status.step, status.total));
  CheckLossHistory(logic, longTotal, "cancelled and resumed");

  // Samples with a seed.
  vtkMedGenLogic::SamplingSettings sampling;
  sampling.count = 4;
  sampling.seed = 7;
  sampling.device = "cpu";
  Check(logic->StartSampling(sampling), "sampling starts: " + logic->GetErrorText());
  double progress = 0.0;
  vtkMedGenLogic::JobState samplingState = vtkMedGenLogic::Running;
  const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while ((samplingState = logic->PollSampling(&progress)) == vtkMedGenLogic::Running &&
         std::chrono::steady_clock::now() < until)
    vtksys::SystemTools::Delay(5);
  Check(samplingState == vtkMedGenLogic::Finished && progress == 1.0,
        Format("sampling finishes (state %d, progress %g): %s", samplingState, progress,
               logic->GetErrorText().c_str()));
  vtkNew<vtkImageData> samples;
  std::string samplesFile;
  Check(logic->LoadSamples(samples, &samplesFile), "the samples load: " + logic->GetErrorText());
  samples->GetDimensions(dims);
  Check(dims[0] == 32 && dims[1] == 32 && dims[2] == 4, Format("4 samples of 32 x 32 (%d %d %d)", dims[0], dims[1],
                                                               dims[2]));
  Check(samplesFile == vtksys::SystemTools::CollapseFullPath(Scratch("work/samples/seed7.nrrd")),
        "in samples/seed7.nrrd: " + samplesFile);

  // Two samples on the source's grid: its matrix and size, two axial slices.
  vtkNew<vtkImageData> synthetic;
  vtkNew<vtkMatrix4x4> syntheticIJKToRAS;
  Check(logic->MakeSyntheticVolume(samples, { 0, 1 }, 0, synthetic, syntheticIJKToRAS),
        "a synthetic volume is made: " + logic->GetErrorText());
  int sourceDims[3], syntheticDims[3];
  volume.image->GetDimensions(sourceDims);
  synthetic->GetDimensions(syntheticDims);
  Check(syntheticDims[0] == sourceDims[0] && syntheticDims[1] == sourceDims[1] && syntheticDims[2] == 2,
        Format("the source's size with two axial slices (%d %d %d)", syntheticDims[0], syntheticDims[1],
               syntheticDims[2]));
  bool sameMatrix = true;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      sameMatrix = sameMatrix && syntheticIJKToRAS->GetElement(r, c) == volume.ijkToRAS->GetElement(r, c);
  Check(sameMatrix, "the source's IJK-to-RAS matrix");
  Check(synthetic->GetScalarType() == volume.image->GetScalarType(), "the source's scalar type");
  Check(!logic->MakeSyntheticVolume(samples, { 0 }, 1, synthetic, syntheticIJKToRAS) &&
          Contains(logic->GetErrorText(), "no training volume 1"),
        "a source index out of range is refused: " + logic->GetErrorText());

  // A new model along another axis, stopped before its first checkpoint and resumed: Start removed the old (axial)
  // model, so Resume starts the sagittal run again instead of continuing the old model (MedGenTrain would refuse the
  // axis change: the run could not finish). The axial samples loaded before still map back axially.
  vtkMedGenLogic::TrainingSettings sagittal = TinyGan(100);
  sagittal.axis = "sagittal";
  sagittal.checkpointInterval = 1000; // the only checkpoint comes at the end
  const std::string staging = Scratch("work/monitor/.preview.nrrd.medgen-1-0"); // as a cancelled preview leaves it
  vtksys::SystemTools::MakeDirectory(staging);
  Check(logic->StartTraining(sagittal, true), "a sagittal run starts: " + logic->GetErrorText());
  Check(logic->GetModelFileName().empty(), "Start removed the old model: " + logic->GetModelFileName());
  Check(!vtksys::SystemTools::FileExists(staging), "and a cancelled preview's staging folder");
  status = PollTrainingUntil(logic, [](const vtkMedGenLogic::TrainingStatus &s) { return s.step > 5; });
  logic->CancelTraining();
  Check(logic->ResumeTraining(), "the sagittal run resumes: " + logic->GetErrorText());
  status = PollTrainingToEnd(logic);
  Check(status.state == vtkMedGenLogic::Finished && status.step == 100,
        Format("the resumed sagittal run finishes from its start (state %d, step %ld: %s)", status.state, status.step,
               status.message.c_str()));
  Check(logic->MakeSyntheticVolume(samples, { 0, 1 }, 0, synthetic, syntheticIJKToRAS),
        "the axial samples still make a volume: " + logic->GetErrorText());
  synthetic->GetDimensions(syntheticDims);
  Check(syntheticDims[0] == sourceDims[0] && syntheticDims[1] == sourceDims[1] && syntheticDims[2] == 2,
        Format("along the axis of the model that drew them, axial (%d %d %d)", syntheticDims[0], syntheticDims[1],
               syntheticDims[2]));

  // Exports keep the synthetic mark; formats that would drop it are refused.
  for (const char *name : { "export.nrrd", "export.mha", "export.nhdr" })
  {
    Check(logic->ExportSamples(Scratch(name)), std::string("exported to ") + name + ": " + logic->GetErrorText());
    vtkNew<vtkImageData> exported;
    vtkNew<vtkMatrix4x4> exportedIJKToRAS;
    std::map<std::string, std::string> metadata;
    std::string error;
    Check(medgen::ReadVolume(Scratch(name), exported, exportedIJKToRAS, error, &metadata), "it reads: " + error);
    exported->GetDimensions(dims);
    Check(dims[0] == 32 && dims[1] == 32 && dims[2] == 4, std::string(name) + " holds the 4 samples");
    Check(metadata["MedGen"] == "synthetic" && metadata["MedGen_Seed"] == "7",
          std::string(name) + " keeps the synthetic mark and the seed");
  }
  Check(!logic->ExportSamples(Scratch("export.png")), "a PNG export is refused");
  Check(Contains(logic->GetErrorText(), "export.png") && Contains(logic->GetErrorText(), ".nrrd, .nhdr, .mha or .mhd"),
        "naming the formats that keep the marks: " + logic->GetErrorText());
  Check(!vtksys::SystemTools::FileExists(Scratch("export.png")), "and writing nothing");
}

// One volume with a label map: the model learns a class per label, and GetClassNames reads them from the model.
static void
TestLabelMap(const Volume &volume)
{
  vtkNew<vtkMedGenLogic> logic;
  logic->SetCLIDirectory(g_CLI.c_str());
  logic->SetWorkDirectory(Scratch("labelled").c_str());
  int dims[3];
  volume.image->GetDimensions(dims);
  vtkNew<vtkImageData> labels; // label 1 in the lower half of the slices, 2 in the upper half
  labels->SetDimensions(dims);
  labels->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
  auto *voxels = static_cast<unsigned char *>(labels->GetScalarPointer());
  for (vtkIdType n = 0; n < labels->GetNumberOfPoints(); ++n)
    voxels[n] = n / (static_cast<vtkIdType>(dims[0]) * dims[1]) < dims[2] / 2 ? 1 : 2;
  logic->AddTrainingVolume(volume.image, volume.ijkToRAS, "brain");
  Check(logic->SetTrainingLabelMap(labels, volume.ijkToRAS, "halves"), "the label map is set: " +
                                                                           logic->GetErrorText());
  Check(logic->AddTrainingVolume(volume.image, volume.ijkToRAS, "second") == -1,
        "a second volume is refused beside a label map");
  Check(logic->StartTraining(TinyGan(10), true), "labelled training starts: " + logic->GetErrorText());
  const vtkMedGenLogic::TrainingStatus status = PollTrainingToEnd(logic);
  Check(status.state == vtkMedGenLogic::Finished, "labelled training finishes: " + status.message);
  Check(vtksys::SystemTools::FileExists(Scratch("labelled/inputs/labels.nrrd"), true), "the label map is written");
  const std::vector<std::string> names = logic->GetClassNames();
  Check(names == std::vector<std::string>{ "label 1", "label 2" },
        Format("the model's classes (%zu: %s)", names.size(), names.empty() ? "" : names[0].c_str()));
}

int
main(int argc, char *argv[])
{
  if (argc < 4)
  {
    std::cout << "usage: vtkMedGenLogicTest <scratch dir> <CLI folder> <ch2.nii.gz>" << std::endl;
    return 1;
  }
  g_Scratch = vtksys::SystemTools::CollapseFullPath(argv[1]);
  g_CLI = argv[2];
  vtksys::SystemTools::RemoveADirectory(g_Scratch);
  vtksys::SystemTools::MakeDirectory(g_Scratch);
  Volume volume;
  if (vtksys::SystemTools::FileExists(argv[3], true))
  {
    if (!CroppedBrain(argv[3], volume))
      return medgen_test::Finish();
  }
  else
  {
    std::cout << "SKIP the brain MRI: " << argv[3] << " is absent (mricron's templates); training on a generated "
              << "volume instead" << std::endl;
    GeneratedVolume(volume);
  }
  TestRefusals(volume);
  TestTrainAndSample(volume);
  TestLabelMap(volume);
  return medgen_test::Finish();
}
