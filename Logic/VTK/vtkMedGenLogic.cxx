// vtkMedGenLogic.h's implementation: the training input written with medgen::WriteVolume, the CLI modules run as
// vtkMedGenJobs, and the monitor folder MedGenTrain writes (progress.json parsed with cJSON, loss.csv read
// incrementally) turned into TrainingStatus and the loss history.
#include "vtkMedGenLogic.h"

#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <cJSON.h>

#include "medgen.h"
#include "medgenVtkVolumes.h"
#include "vtkImageData.h"
#include "vtkMatrix4x4.h"
#include "vtkMedGenJob.h"
#include "vtkNew.h"
#include "vtkObjectFactory.h"
#include "vtkFieldData.h"
#include "vtkPointData.h"
#include "vtkStringArray.h"
#include "vtksys/Directory.hxx"
#include "vtksys/SystemTools.hxx"

vtkStandardNewMacro(vtkMedGenLogic);

namespace
{
// The field-data array that tags loaded slices with the axis of the model that drew them.
const char *const AxisArrayName = "MedGen.Axis";


constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t MaxTrainingVolumes = 3;
const char *const VolumeFlags[MaxTrainingVolumes] = { "--inputVolume", "--inputVolume2", "--inputVolume3" };

struct InputVolume
{
  vtkSmartPointer<vtkImageData> image;
  vtkSmartPointer<vtkMatrix4x4> ijkToRAS;
  std::string name;
};

// The problem with image as a volume to train on ("" when none).
std::string
VolumeProblem(vtkImageData *image)
{
  if (!image || !image->GetPointData()->GetScalars())
    return "no image data";
  if (image->GetNumberOfPoints() == 0)
    return "no voxels";
  const int components = image->GetNumberOfScalarComponents();
  if (components != 1)
    return std::to_string(components) + " components per voxel (MedGen learns from one-component volumes)";
  return std::string();
}

// The matrix given, or identity for none.
vtkSmartPointer<vtkMatrix4x4>
MatrixOrIdentity(vtkMatrix4x4 *ijkToRAS)
{
  return ijkToRAS ? vtkSmartPointer<vtkMatrix4x4>(ijkToRAS) : vtkSmartPointer<vtkMatrix4x4>::New();
}

std::string
Join(const std::string &folder, const std::string &name)
{
  return folder + "/" + name;
}

std::string
Number(double value)
{
  std::ostringstream text;
  text.precision(17);
  text << value;
  return text.str();
}

// The whole of a small text file; false when it cannot be opened.
bool
ReadText(const std::string &path, std::string &text)
{
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return false;
  std::ostringstream contents;
  contents << file.rdbuf();
  text = contents.str();
  return true;
}

double
JsonNumber(const cJSON *object, const char *field, double absent)
{
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, field);
  return cJSON_IsNumber(item) ? item->valuedouble : absent;
}

std::string
JsonString(const cJSON *object, const char *field)
{
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, field);
  return cJSON_IsString(item) ? item->valuestring : std::string();
}

// A checkpoint, freed when it goes.
struct Checkpoint
{
  mg_checkpoint *ckpt = nullptr;
  std::string error;
  explicit Checkpoint(const std::string &path)
  {
    char err[1024] = "";
    if (mg_checkpoint_load(path.c_str(), &ckpt, err, sizeof err) != MG_OK)
      error = err;
  }
  ~Checkpoint() { mg_checkpoint_free(ckpt); }
  Checkpoint(const Checkpoint &) = delete;
  Checkpoint &operator=(const Checkpoint &) = delete;
};

// A device name the CLI modules take; else false with the reason in error. Whether the device can be used is the
// job's to find out: the engine says why in its message (the panel shows it).
bool
KnownDevice(const std::string &device, std::string &error)
{
  if (mg_device_from_name(device.c_str()) >= 0)
    return true;
  error = "device \"" + device + "\": must be auto, cpu or cuda";
  return false;
}

} // namespace

struct vtkMedGenLogic::Internals
{
  std::vector<InputVolume> Volumes;
  InputVolume LabelMap; // image null: none
  vtkSmartPointer<vtkMedGenJob> TrainingJob = vtkSmartPointer<vtkMedGenJob>::New();
  vtkSmartPointer<vtkMedGenJob> SamplingJob = vtkSmartPointer<vtkMedGenJob>::New();
  // MedGenTrain's arguments for the last StartTraining, without --restart: what ResumeTraining reruns.
  std::vector<std::string> TrainingArguments;
  // What progress.json said last (kept while it is briefly absent or being replaced).
  TrainingStatus FileStatus;
  std::string FileState; // its "state": "running", "done", "failed"; "" before one is read
  // loss.csv: bytes read (whole lines), and the last line read, to notice the file being rewritten.
  std::streamoff LossBytesRead = 0;
  std::string LossLastLine;
  std::string SamplesFile; // the last sampling job's output

  Internals() { this->FileStatus.loss = NaN; }
  // Training starts only when neither job runs (sampling reads the model training replaces); false with the logic's
  // ErrorText set otherwise.
  bool NoJobRunning(vtkMedGenLogic *self)
  {
    if (this->TrainingJob->Poll() == vtkMedGenJob::Running)
      self->ErrorText = "training is running already: cancel it first";
    else if (this->SamplingJob->Poll() == vtkMedGenJob::Running)
      self->ErrorText = "sampling is running: wait for it or cancel it first";
    else
      return true;
    return false;
  }
  // The absolute work folder (created) and, unless program is "", the program in the CLI folder; false with the
  // logic's ErrorText set when either is missing.
  bool CheckFolders(vtkMedGenLogic *self, const std::string &program, std::string &work, std::string &executable);
  // Starts MedGenTrain; what was read from an earlier run's progress.json and loss.csv is read afresh.
  bool LaunchTraining(vtkMedGenLogic *self, const std::string &program, const std::string &work,
                      const std::vector<std::string> &args);
  void ReadProgressFile(const std::string &monitor);
  void ReadLossFile(vtkMedGenLogic *self, const std::string &monitor);
  // The finished sampling job's file; false with ErrorText when there is none.
  bool FinishedSamplesFile(vtkMedGenLogic *self, std::string &path);
};

vtkMedGenLogic::vtkMedGenLogic()
  : Internal(new Internals)
{
}

vtkMedGenLogic::~vtkMedGenLogic()
{
  this->Internal->TrainingJob->Cancel();
  this->Internal->SamplingJob->Cancel();
  delete this->Internal;
}

// ---- Training input ----

int
vtkMedGenLogic::AddTrainingVolume(vtkImageData *image, vtkMatrix4x4 *ijkToRAS, const std::string &name)
{
  this->ErrorText.clear();
  const std::string problem = VolumeProblem(image);
  if (!problem.empty())
  {
    this->ErrorText = name + ": " + problem;
    return -1;
  }
  if (this->Internal->Volumes.size() >= MaxTrainingVolumes)
  {
    this->ErrorText = name + ": MedGen trains on at most three volumes (three are added already)";
    return -1;
  }
  if (this->Internal->LabelMap.image && !this->Internal->Volumes.empty())
  {
    this->ErrorText = name + ": a label map (" + this->Internal->LabelMap.name + ") goes with a single volume";
    return -1;
  }
  this->Internal->Volumes.push_back({ image, MatrixOrIdentity(ijkToRAS), name });
  this->Modified();
  return static_cast<int>(this->Internal->Volumes.size()) - 1;
}

bool
vtkMedGenLogic::SetTrainingLabelMap(vtkImageData *labels, vtkMatrix4x4 *ijkToRAS, const std::string &name)
{
  this->ErrorText.clear();
  const std::string problem = VolumeProblem(labels);
  if (!problem.empty())
  {
    this->ErrorText = name + ": " + problem;
    return false;
  }
  if (this->Internal->Volumes.size() != 1)
  {
    this->ErrorText = name + ": a label map goes with a single training volume (" +
                      std::to_string(this->Internal->Volumes.size()) + " added)";
    return false;
  }
  this->Internal->LabelMap = { labels, MatrixOrIdentity(ijkToRAS), name };
  this->Modified();
  return true;
}

void
vtkMedGenLogic::ClearTrainingInput()
{
  this->Internal->Volumes.clear();
  this->Internal->LabelMap = InputVolume();
  this->Modified();
}

int
vtkMedGenLogic::GetNumberOfTrainingVolumes() const
{
  return static_cast<int>(this->Internal->Volumes.size());
}

std::string
vtkMedGenLogic::GetTrainingVolumeName(int index) const
{
  if (index < 0 || index >= this->GetNumberOfTrainingVolumes())
    return std::string();
  return this->Internal->Volumes[static_cast<size_t>(index)].name;
}

// ---- Training ----

bool
vtkMedGenLogic::Internals::CheckFolders(vtkMedGenLogic *self, const std::string &program, std::string &work,
                                        std::string &executable)
{
  if (self->WorkDirectory.empty())
  {
    self->ErrorText = "no work folder set";
    return false;
  }
  work = vtksys::SystemTools::CollapseFullPath(self->WorkDirectory);
  if (!vtksys::SystemTools::MakeDirectory(work))
  {
    self->ErrorText = work + ": cannot create the work folder";
    return false;
  }
  if (program.empty())
    return true;
  executable = Join(self->CLIDirectory, program + vtksys::SystemTools::GetExecutableExtension());
  if (self->CLIDirectory.empty() || !vtksys::SystemTools::FileExists(executable, true))
  {
    self->ErrorText = executable + ": no such program (the CLI folder must hold MedGenTrain and MedGenSample)";
    return false;
  }
  return true;
}

bool
vtkMedGenLogic::StartTraining(const TrainingSettings &settings, bool restart)
{
  this->ErrorText.clear();
  Internals &in = *this->Internal;
  if (!in.NoJobRunning(this))
    return false;
  if (in.Volumes.empty())
  {
    this->ErrorText = "no training volume: add one first";
    return false;
  }
  if (!KnownDevice(settings.device, this->ErrorText))
    return false;
  std::string work, program;
  if (!this->Internal->CheckFolders(this, "MedGenTrain", work, program))
    return false;
  const std::string inputs = Join(work, "inputs");
  if (!vtksys::SystemTools::MakeDirectory(inputs))
  {
    this->ErrorText = inputs + ": cannot create the folder";
    return false;
  }

  // The input files, and nothing left from an earlier, larger input.
  std::vector<std::string> args;
  for (size_t i = 0; i < MaxTrainingVolumes; ++i)
  {
    const std::string path = Join(inputs, "volume" + std::to_string(i) + ".nrrd");
    if (i >= in.Volumes.size())
    {
      vtksys::SystemTools::RemoveFile(path);
      continue;
    }
    if (!medgen::WriteVolume(in.Volumes[i].image, in.Volumes[i].ijkToRAS, path, this->ErrorText))
      return false;
    args.insert(args.end(), { VolumeFlags[i], path });
  }
  const std::string labels = Join(inputs, "labels.nrrd");
  if (in.LabelMap.image)
  {
    if (!medgen::WriteVolume(in.LabelMap.image, in.LabelMap.ijkToRAS, labels, this->ErrorText))
      return false;
    args.insert(args.end(), { "--labelMap", labels });
  }
  else
    vtksys::SystemTools::RemoveFile(labels);

  const std::string monitor = Join(work, "monitor");
  args.insert(args.end(), { "--outputModel", Join(work, "model.safetensors"), "--modelType", settings.modelType,
                            "--preset", settings.preset, "--axis", settings.axis, "--device", settings.device,
                            "--imageSize", std::to_string(settings.imageSize), "--iterations",
                            std::to_string(settings.iterations), "--batchSize", std::to_string(settings.batchSize),
                            "--seed", std::to_string(settings.seed), "--windowMin", Number(settings.windowMin),
                            "--windowMax", Number(settings.windowMax), "--baseChannels",
                            std::to_string(settings.baseChannels), "--width", std::to_string(settings.width),
                            "--checkpointInterval", std::to_string(settings.checkpointInterval), "--threads",
                            std::to_string(settings.threads), "--monitorDirectory", monitor, "--previewSeconds",
                            std::to_string(settings.previewSeconds) });
  if (settings.useWindow)
    args.push_back("--useWindow");
  in.TrainingArguments = args;

  // A new model makes the old monitor files meaningless; a continued one keeps them (MedGenTrain trims loss.csv).
  // The old model goes too: a Stop before the new run's first checkpoint, then Resume, must not continue it.
  if (restart)
  {
    for (const char *name : { "loss.csv", "preview.nrrd" })
      vtksys::SystemTools::RemoveFile(Join(monitor, name));
    vtksys::SystemTools::RemoveFile(Join(work, "model.safetensors"));
    args.push_back("--restart");
  }
  return this->Internal->LaunchTraining(this, program, work, args);
}

bool
vtkMedGenLogic::ResumeTraining()
{
  this->ErrorText.clear();
  Internals &in = *this->Internal;
  if (in.TrainingArguments.empty())
  {
    this->ErrorText = "no training to resume: start training first";
    return false;
  }
  if (!in.NoJobRunning(this))
    return false;
  std::string work, program;
  if (!this->Internal->CheckFolders(this, "MedGenTrain", work, program))
    return false;
  return this->Internal->LaunchTraining(this, program, work, in.TrainingArguments);
}

bool
vtkMedGenLogic::Internals::LaunchTraining(vtkMedGenLogic *self, const std::string &program, const std::string &work,
                                          const std::vector<std::string> &args)
{
  vtksys::SystemTools::RemoveFile(Join(work, "monitor/progress.json")); // the new run writes its own at once
  // Staging folders a killed run left in the monitor folder (".preview.nrrd.medgen-<pid>-<n>": a cancelled preview).
  vtksys::Directory monitor;
  if (monitor.Load(Join(work, "monitor")))
    for (unsigned long i = 0; i < monitor.GetNumberOfFiles(); ++i)
    {
      const std::string name = monitor.GetFile(i);
      if (name.size() > 1 && name[0] == '.' && name.find(".medgen-") != std::string::npos)
        vtksys::SystemTools::RemoveADirectory(Join(work, "monitor/" + name));
    }
  this->FileStatus = TrainingStatus();
  this->FileStatus.loss = NaN;
  this->FileState.clear();
  this->LossBytesRead = 0;
  this->LossLastLine.clear();
  self->LossHistory.clear();
  self->Modified();
  if (!this->TrainingJob->Start(program, args, Join(work, "logs")))
  {
    self->ErrorText = this->TrainingJob->GetErrorText();
    return false;
  }
  return true;
}

void
vtkMedGenLogic::CancelTraining()
{
  this->Internal->TrainingJob->Cancel();
  this->Modified();
}

// progress.json into FileStatus; kept as it was when the file is absent or unreadable (never half written: it is
// replaced by a rename).
void
vtkMedGenLogic::Internals::ReadProgressFile(const std::string &monitor)
{
  std::string text;
  if (!ReadText(Join(monitor, "progress.json"), text))
    return;
  cJSON *json = cJSON_Parse(text.c_str());
  if (!cJSON_IsObject(json))
  {
    cJSON_Delete(json);
    return;
  }
  TrainingStatus &s = this->FileStatus;
  s.step = static_cast<long>(JsonNumber(json, "step", 0));
  s.total = static_cast<long>(JsonNumber(json, "total", 0));
  s.loss = JsonNumber(json, "loss", NaN);
  s.elapsedSeconds = JsonNumber(json, "elapsed_seconds", 0);
  s.etaSeconds = JsonNumber(json, "eta_seconds", -1);
  s.previewStep = static_cast<long>(JsonNumber(json, "preview_step", -1));
  s.message = JsonString(json, "message");
  this->FileState = JsonString(json, "state");
  cJSON_Delete(json);
}

// The new whole lines of loss.csv into LossHistory. MedGenTrain rewrites the file shorter on resume and anew on
// restart: when the bytes before where reading stopped are no longer the line read there, it is read from the start.
void
vtkMedGenLogic::Internals::ReadLossFile(vtkMedGenLogic *self, const std::string &monitor)
{
  std::ifstream file(Join(monitor, "loss.csv"), std::ios::binary | std::ios::ate);
  const std::streamoff size = file ? static_cast<std::streamoff>(file.tellg()) : 0;
  bool rewritten = size < this->LossBytesRead;
  if (!rewritten && !this->LossLastLine.empty())
  {
    std::string there(this->LossLastLine.size(), '\0');
    file.seekg(this->LossBytesRead - static_cast<std::streamoff>(there.size()));
    file.read(&there[0], static_cast<std::streamsize>(there.size()));
    rewritten = there != this->LossLastLine;
  }
  if (rewritten)
  {
    this->LossBytesRead = 0;
    this->LossLastLine.clear();
    self->LossHistory.clear();
    self->Modified();
  }
  if (!file || size == this->LossBytesRead)
    return;
  file.clear();
  file.seekg(this->LossBytesRead);
  std::string text(static_cast<size_t>(size - this->LossBytesRead), '\0');
  file.read(&text[0], static_cast<std::streamsize>(text.size()));
  const size_t whole = text.rfind('\n') + 1; // npos + 1 == 0: no whole line yet
  std::istringstream lines(text.substr(0, whole));
  for (std::string line; std::getline(lines, line);)
  {
    this->LossLastLine = line + "\n";
    char *end = nullptr;
    const long step = std::strtol(line.c_str(), &end, 10);
    if (end == line.c_str() || *end != ',') // the header
      continue;
    self->LossHistory.emplace_back(step, std::strtod(end + 1, nullptr));
  }
  this->LossBytesRead += static_cast<std::streamoff>(whole);
  if (whole > 0)
    self->Modified();
}

vtkMedGenLogic::TrainingStatus
vtkMedGenLogic::PollTraining()
{
  Internals &in = *this->Internal;
  vtkMedGenJob *job = in.TrainingJob;
  const vtkMedGenJob::State jobState = job->Poll(); // first: once it has ended, the files below are final
  if (!this->WorkDirectory.empty())
  {
    const std::string monitor = Join(vtksys::SystemTools::CollapseFullPath(this->WorkDirectory), "monitor");
    in.ReadProgressFile(monitor);
    in.ReadLossFile(this, monitor);
  }
  TrainingStatus status = in.FileStatus;
  switch (jobState)
  {
    case vtkMedGenJob::Idle:
      status.state = NotStarted;
      break;
    case vtkMedGenJob::Running:
      status.state = Running;
      break;
    case vtkMedGenJob::Succeeded:
      status.state = Finished;
      break;
    case vtkMedGenJob::Failed:
      status.state = Failed;
      // MedGenTrain's own words when it got as far as the monitor folder, else what it printed or why it did not run.
      if (in.FileState != "failed" || status.message.empty())
        status.message = job->GetErrorText();
      break;
    case vtkMedGenJob::Cancelled:
      status.state = Cancelled;
      break;
  }
  if (status.message.empty())
    status.message = job->GetComment();
  return status;
}

bool
vtkMedGenLogic::LoadTrainingPreview(vtkImageData *slices)
{
  this->ErrorText.clear();
  const std::string path = this->WorkDirectory.empty()
                             ? std::string()
                             : Join(vtksys::SystemTools::CollapseFullPath(this->WorkDirectory), "monitor/preview.nrrd");
  if (path.empty() || !vtksys::SystemTools::FileExists(path, true))
  {
    this->ErrorText = "no training preview yet";
    return false;
  }
  vtkNew<vtkMatrix4x4> ijkToRAS;
  return medgen::ReadVolume(path, slices, ijkToRAS, this->ErrorText) && this->TagWithModelAxis(slices);
}

std::string
vtkMedGenLogic::GetModelFileName() const
{
  if (this->WorkDirectory.empty())
    return std::string();
  const std::string path = Join(vtksys::SystemTools::CollapseFullPath(this->WorkDirectory), "model.safetensors");
  return vtksys::SystemTools::FileExists(path, true) ? path : std::string();
}

std::vector<std::string>
vtkMedGenLogic::GetClassNames()
{
  this->ErrorText.clear();
  const std::string model = this->GetModelFileName();
  if (model.empty())
    return {};
  Checkpoint checkpoint(model);
  if (!checkpoint.ckpt)
  {
    this->ErrorText = checkpoint.error;
    return {};
  }
  // The model knows its classes, as MedGenImageSource asks them. Reading them needs no GPU, whatever the device.
  mg_context_options options{ MG_DEVICE_CPU, 1, 0 };
  mg_ctx *ctx = nullptr;
  char err[1024] = "";
  if (mg_context_create(&options, &ctx, err, sizeof err) != MG_OK)
  {
    this->ErrorText = model + ": " + err;
    return {};
  }
  std::vector<std::string> names;
  const char *type = mg_checkpoint_model_type(checkpoint.ckpt);
  const bool isGan = type && std::string(type) == "gan";
  mg_gan *gan = nullptr;
  mg_ddpm *ddpm = nullptr;
  const mg_status status = isGan ? mg_gan_load(ctx, checkpoint.ckpt, MG_WEIGHTS_EMA, &gan)
                                 : mg_ddpm_load(ctx, checkpoint.ckpt, MG_WEIGHTS_EMA, &ddpm);
  if (status != MG_OK)
    this->ErrorText = mg_context_error(ctx);
  const int count = gan ? mg_gan_num_classes(gan) : ddpm ? mg_ddpm_num_classes(ddpm) : 0;
  for (int i = 0; i < count; ++i)
  {
    const char *name = gan ? mg_gan_class_name(gan, i) : mg_ddpm_class_name(ddpm, i);
    names.push_back(name ? name : std::to_string(i)); // MedGenSample takes an unnamed class's index
  }
  mg_gan_free(gan);
  mg_ddpm_free(ddpm);
  mg_context_free(ctx);
  return names;
}

// ---- Sampling ----

bool
vtkMedGenLogic::StartSampling(const SamplingSettings &settings)
{
  this->ErrorText.clear();
  Internals &in = *this->Internal;
  if (in.SamplingJob->Poll() == vtkMedGenJob::Running)
  {
    this->ErrorText = "sampling is running already: wait for it or cancel it first";
    return false;
  }
  if (!KnownDevice(settings.device, this->ErrorText))
    return false;
  std::string work, program;
  if (!this->Internal->CheckFolders(this, "MedGenSample", work, program))
    return false;
  const std::string model = this->GetModelFileName();
  if (model.empty())
  {
    this->ErrorText = Join(work, "model.safetensors") + ": no model yet: train one first";
    return false;
  }
  const std::string samples = Join(work, "samples");
  if (!vtksys::SystemTools::MakeDirectory(samples))
  {
    this->ErrorText = samples + ": cannot create the folder";
    return false;
  }
  in.SamplesFile = Join(samples, "seed" + std::to_string(settings.seed) + ".nrrd");
  std::vector<std::string> args{ "--model", model, "--outputVolume", in.SamplesFile,
                                 "--sampler", settings.sampler, "--steps", std::to_string(settings.steps),
                                 "--numberOfSamples", std::to_string(settings.count), "--seed",
                                 std::to_string(settings.seed), "--guidance", Number(settings.guidance),
                                 "--truncation", Number(settings.truncation), "--device", settings.device };
  if (!settings.className.empty())
    args.insert(args.end(), { "--className", settings.className });
  if (!in.SamplingJob->Start(program, args, Join(work, "logs")))
  {
    this->ErrorText = in.SamplingJob->GetErrorText();
    return false;
  }
  this->Modified();
  return true;
}

vtkMedGenLogic::JobState
vtkMedGenLogic::PollSampling(double *progress)
{
  vtkMedGenJob *job = this->Internal->SamplingJob;
  const vtkMedGenJob::State state = job->Poll();
  if (progress)
    *progress = job->GetProgress();
  switch (state)
  {
    case vtkMedGenJob::Idle:
      return NotStarted;
    case vtkMedGenJob::Running:
      return Running;
    case vtkMedGenJob::Succeeded:
      return Finished;
    case vtkMedGenJob::Failed:
      this->ErrorText = job->GetErrorText();
      return Failed;
    case vtkMedGenJob::Cancelled:
      return Cancelled;
  }
  return Failed;
}

void
vtkMedGenLogic::CancelSampling()
{
  this->Internal->SamplingJob->Cancel();
  this->Modified();
}

bool
vtkMedGenLogic::Internals::FinishedSamplesFile(vtkMedGenLogic *self, std::string &path)
{
  switch (self->PollSampling())
  {
    case Finished:
      path = this->SamplesFile;
      return true;
    case Running:
      self->ErrorText = "sampling is still running";
      return false;
    case Failed:
      self->ErrorText = "sampling failed: " + this->SamplingJob->GetErrorText();
      return false;
    default:
      self->ErrorText = "no samples yet: sample from the model first";
      return false;
  }
}

bool
vtkMedGenLogic::LoadSamples(vtkImageData *slices, std::string *fileName)
{
  this->ErrorText.clear();
  std::string path;
  if (!this->Internal->FinishedSamplesFile(this, path))
    return false;
  vtkNew<vtkMatrix4x4> ijkToRAS;
  if (!medgen::ReadVolume(path, slices, ijkToRAS, this->ErrorText) || !this->TagWithModelAxis(slices))
    return false;
  if (fileName)
    *fileName = path;
  return true;
}

bool
vtkMedGenLogic::ExportSamples(const std::string &path)
{
  this->ErrorText.clear();
  const std::string lower = vtksys::SystemTools::LowerCase(path);
  bool keepsMarks = false;
  for (const char *extension : { ".nrrd", ".nhdr", ".mha", ".mhd" })
    keepsMarks = keepsMarks || vtksys::SystemTools::StringEndsWith(lower, extension);
  if (!keepsMarks)
  {
    this->ErrorText = path + ": samples are exported as .nrrd, .nhdr, .mha or .mhd, the formats that keep their "
                             "synthetic marks";
    return false;
  }
  std::string source;
  if (!this->Internal->FinishedSamplesFile(this, source))
    return false;
  vtkNew<vtkImageData> image;
  vtkNew<vtkMatrix4x4> ijkToRAS;
  std::map<std::string, std::string> metadata; // the synthetic marks travel with the voxels
  return medgen::ReadVolume(source, image, ijkToRAS, this->ErrorText, &metadata) &&
         medgen::WriteVolume(image, ijkToRAS, path, this->ErrorText, metadata);
}

// ---- Synthetic volumes ----

bool
vtkMedGenLogic::MakeSyntheticVolume(vtkImageData *slices, const std::vector<int> &picks, int sourceIndex,
                                    vtkImageData *out, vtkMatrix4x4 *outIJKToRAS)
{
  this->ErrorText.clear();
  if (sourceIndex < 0 || sourceIndex >= this->GetNumberOfTrainingVolumes())
  {
    this->ErrorText = "no training volume " + std::to_string(sourceIndex) + " (" +
                      std::to_string(this->GetNumberOfTrainingVolumes()) + " added)";
    return false;
  }
  // The axis of the model that drew the slices (tagged when they were loaded; a later model may use another),
  // else the current model's.
  std::string axis;
  vtkStringArray *tag =
    slices ? vtkStringArray::SafeDownCast(slices->GetFieldData()->GetAbstractArray(AxisArrayName)) : nullptr;
  if (tag && tag->GetNumberOfValues() == 1)
    axis = tag->GetValue(0);
  else if (!this->ModelAxis(axis))
    return false;
  const InputVolume &source = this->Internal->Volumes[static_cast<size_t>(sourceIndex)];
  return medgen::SyntheticVolume(slices, picks, source.image, source.ijkToRAS, axis, out, outIJKToRAS,
                                 this->ErrorText);
}

bool
vtkMedGenLogic::ModelAxis(std::string &axis)
{
  const std::string model = this->GetModelFileName();
  if (model.empty())
  {
    this->ErrorText = "no model: the axis its slices were cut along is unknown";
    return false;
  }
  Checkpoint checkpoint(model);
  const char *note = checkpoint.ckpt ? mg_checkpoint_metadata(checkpoint.ckpt, "run.axis") : nullptr;
  if (!note)
  {
    this->ErrorText = checkpoint.ckpt ? model + ": no run.axis note (the axis its slices were cut along)"
                                      : checkpoint.error;
    return false;
  }
  axis = note;
  return true;
}

bool
vtkMedGenLogic::TagWithModelAxis(vtkImageData *slices)
{
  std::string axis;
  if (!this->ModelAxis(axis))
    return false;
  vtkNew<vtkStringArray> tag;
  tag->SetName(AxisArrayName);
  tag->InsertNextValue(axis);
  slices->GetFieldData()->RemoveArray(AxisArrayName);
  slices->GetFieldData()->AddArray(tag);
  return true;
}

void
vtkMedGenLogic::PrintSelf(ostream &os, vtkIndent indent)
{
  this->Superclass::PrintSelf(os, indent);
  os << indent << "CLIDirectory: " << this->CLIDirectory << "\n";
  os << indent << "WorkDirectory: " << this->WorkDirectory << "\n";
  os << indent << "ErrorText: " << this->ErrorText << "\n";
  os << indent << "TrainingVolumes:";
  for (const InputVolume &volume : this->Internal->Volumes)
    os << " " << volume.name;
  os << "\n" << indent << "LabelMap: " << this->Internal->LabelMap.name << "\n";
  os << indent << "LossHistory: " << this->LossHistory.size() << " steps\n";
  os << indent << "TrainingJob:\n";
  this->Internal->TrainingJob->PrintSelf(os, indent.GetNextIndent());
  os << indent << "SamplingJob:\n";
  this->Internal->SamplingJob->PrintSelf(os, indent.GetNextIndent());
}
