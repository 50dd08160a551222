// medgenTrainingMonitor: the monitor folder of MedGenTrain (see medgenTrainingMonitor.h for the files it holds).
#include "medgenTrainingMonitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "itkImage.h"
#include "itkImageFileWriter.h"
#include "itkMedGenImageSource.h"
#include "itkMetaDataObject.h"
#include "itksys/SystemTools.hxx"
#include "medgenCLI.h"
#include "medgenStagedOutput.h"

namespace medgen
{
namespace cli
{
namespace
{

// What a preview shows: the same images every time (seed 1), so that previews compare over training.
constexpr unsigned int PreviewImages = 16;
constexpr uint64_t PreviewSeed = 1;
constexpr unsigned int PreviewDiffusionSteps = 20; // DDIM
constexpr double SecondsBetweenProgressWrites = 0.5;

// A JSON number, or null for NaN and infinities (which JSON lacks).
std::string
JsonNumber(double value)
{
  if (!std::isfinite(value))
    return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

std::string
JsonString(const std::string &text)
{
  std::string quoted = "\"";
  for (const char c : text)
  {
    if (c == '"' || c == '\\')
      quoted += std::string("\\") + c;
    else if (static_cast<unsigned char>(c) < 0x20)
    {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      quoted += escape;
    }
    else
      quoted += c;
  }
  return quoted + "\"";
}

// Replaces path with text in one rename, so that a reader sees the old file or the new one, never a part.
void
WriteAtomically(const std::string &path, const std::string &text)
{
  StagedOutput output(path);
  std::ofstream file(output.StagedPath(), std::ios::binary);
  file << text;
  file.close();
  if (!file)
    throw std::runtime_error(path + ": cannot write it");
  output.Publish();
}

// A whole "step,loss" line of loss.csv (the last line of a killed run may be cut short); its step in step.
bool
ParseLossLine(const std::string &line, long &step)
{
  char *end = nullptr;
  step = std::strtol(line.c_str(), &end, 10);
  if (end == line.c_str() || *end != ',')
    return false;
  const char *lossText = end + 1;
  std::strtod(lossText, &end);
  return end != lossText && *end == '\0';
}

} // namespace

TrainingMonitor::TrainingMonitor(const MonitorSettings &settings, const std::string &message)
  : m_Settings(settings)
  , m_Message(message)
  , m_Loss(std::numeric_limits<double>::quiet_NaN())
  , m_Started(Clock::now())
  , m_FirstStepTime(m_Started)
  , m_LastWrite(m_Started)
  , m_LastPreview(m_Started)
{
  if (m_Settings.directory.empty())
    return;
  const std::string &folder = m_Settings.directory;
  if (!itksys::SystemTools::MakeDirectory(folder) || !itksys::SystemTools::FileIsDirectory(folder))
    throw std::runtime_error(folder + ": cannot create the monitor folder");
  m_ModelPath = itksys::SystemTools::CollapseFullPath(m_Settings.model);
  this->WriteProgress();
}

void
TrainingMonitor::Comment(const std::string &text)
{
  m_Message = text;
}

void
TrainingMonitor::Resuming(long step)
{
  if (m_Settings.directory.empty())
    return;
  m_Step = step;
  this->WriteProgress();
}

void
TrainingMonitor::Step(long step, double loss, long slices)
{
  if (step <= m_Step) // the trainer's opening progress, before any step of this process
    return;
  const bool first = m_FirstStep < 0;
  if (first)
  {
    m_FirstStep = step;
    m_FirstStepTime = Clock::now();
    this->StartLossFile(step - 1);
  }
  // The engine saves the checkpoint after the progress of every step that is a multiple of the interval (and of the
  // last), so now the one of step - 1 is on disk; before this process's first step lies the checkpoint it started
  // from, which is not new.
  else if ((step - 1) % m_Settings.checkpointInterval == 0)
    m_NewestCheckpoint = step - 1;
  m_Step = step;
  m_Loss = loss;
  m_Slices = slices;
  char line[64];
  std::snprintf(line, sizeof line, "%ld,%.9g\n", step, loss);
  m_PendingLosses += line;

  // A preview pauses training: with previewSeconds > 0, previews also wait nine times as long as the last one took,
  // so they never take more than a tenth of the run (a 64x64 diffusion preview takes about a minute on 2 cores).
  const double wait = m_Settings.previewSeconds > 0
                        ? std::max(static_cast<double>(m_Settings.previewSeconds), 9.0 * m_PreviewSeconds)
                        : 0.0;
  const bool previewDue = m_NewestCheckpoint > m_PreviewStep && SecondsSince(m_LastPreview) >= wait;
  if (previewDue)
    this->WritePreview(m_NewestCheckpoint);
  const bool progressDue = previewDue || SecondsSince(m_LastWrite) >= SecondsBetweenProgressWrites;
  // The engine saves a checkpoint right after this progress at multiples of the interval and at the end: the losses
  // it covers go to disk first, so that after a kill the resumed run finds every line up to its checkpoint.
  if (progressDue || step % m_Settings.checkpointInterval == 0 || step == m_Settings.totalSteps)
    this->FlushLosses();
  if (progressDue)
    this->WriteProgress();
}

void
TrainingMonitor::Finish(long step, double loss, long slices)
{
  if (m_Settings.directory.empty())
    return;
  m_Step = step;
  if (!std::isnan(loss)) // NaN: no step was left to train
    m_Loss = loss;
  m_Slices = slices;
  this->WritePreview(step);
  m_State = "done";
  this->FlushLosses();
  this->WriteProgress();
}

void
TrainingMonitor::Fail(const std::string &message) noexcept
{
  if (m_Settings.directory.empty())
    return;
  // A failure to report the failure is dropped: the failure itself is what the caller must see.
  try
  {
    m_State = "failed";
    m_Message = message;
    this->FlushLosses();
  }
  catch (...)
  {
  }
  try
  {
    this->WriteProgress();
  }
  catch (...)
  {
  }
}

void
TrainingMonitor::StartLossFile(long lastKept)
{
  const std::string path = PathOf("loss.csv");
  std::string kept = "step,loss\n";
  std::ifstream old(path);
  std::string line;
  long previous = 0;
  // getline reaching the end of the file means the line had no newline: cut short by a kill, so dropped.
  while (lastKept > 0 && std::getline(old, line) && !old.eof())
  {
    long step;
    if (ParseLossLine(line, step) && step > previous && step <= lastKept)
    {
      kept += line + "\n";
      previous = step;
    }
  }
  old.close();
  WriteAtomically(path, kept);
  m_LossFile.open(path, std::ios::binary | std::ios::app);
  if (!m_LossFile)
    throw std::runtime_error(path + ": cannot open it to append the losses");
}

void
TrainingMonitor::FlushLosses()
{
  if (!m_LossFile.is_open() || m_PendingLosses.empty())
    return;
  m_LossFile << m_PendingLosses;
  m_LossFile.flush();
  if (!m_LossFile)
    throw std::runtime_error(PathOf("loss.csv") + ": cannot write it");
  m_PendingLosses.clear();
}

void
TrainingMonitor::WriteProgress()
{
  const long total = m_Settings.totalSteps;
  double eta = std::numeric_limits<double>::quiet_NaN();
  if (m_State == "done")
    eta = 0.0;
  else if (m_State == "running" && m_FirstStep >= 0 && m_Step > m_FirstStep)
    eta = (total - m_Step) * SecondsSince(m_FirstStepTime) / (m_Step - m_FirstStep); // this process's rate
  std::ostringstream json;
  json << "{\"state\": " << JsonString(m_State) << ", \"step\": " << m_Step << ", \"total\": " << total
       << ", \"loss\": " << JsonNumber(m_Loss) << ", \"elapsed_seconds\": " << JsonNumber(SecondsSince(m_Started))
       << ", \"eta_seconds\": " << JsonNumber(eta) << ", \"slices\": " << m_Slices
       << ", \"preview_step\": " << m_PreviewStep << ", \"model\": " << JsonString(m_ModelPath)
       << ", \"message\": " << JsonString(m_Message) << "}\n";
  WriteAtomically(PathOf("progress.json"), json.str());
  m_LastWrite = Clock::now();
}

void
TrainingMonitor::WritePreview(long step)
{
  using ImageType = itk::Image<float, 3>;
  const Clock::time_point start = Clock::now();
  StagedOutput output(PathOf("preview.nrrd"));
  // A new source each time: a source keeps its model loaded while the file name stays the same.
  auto source = itk::MedGenImageSource<ImageType>::New();
  source->SetModelFileName(m_Settings.model);
  source->SetSampler("ddim");
  source->SetNumberOfSteps(PreviewDiffusionSteps);
  source->SetNumberOfSamples(PreviewImages);
  source->SetSeed(PreviewSeed);
  source->SetDevice(m_Settings.device);
  source->SetNumberOfThreads(m_Settings.threads);
  source->Update();
  ImageType::Pointer images = source->GetOutput();
  images->DisconnectPipeline(); // so that writing does not regenerate the marks without the training step
  itk::EncapsulateMetaData<std::string>(images->GetMetaDataDictionary(), "MedGen_TrainingStep", std::to_string(step));
  auto writer = itk::ImageFileWriter<ImageType>::New();
  writer->SetInput(images);
  writer->SetFileName(output.StagedPath());
  writer->Update();
  output.Publish();
  m_PreviewStep = step;
  m_LastPreview = Clock::now();
  m_PreviewSeconds = SecondsSince(start);
}

double
TrainingMonitor::SecondsSince(Clock::time_point t) const
{
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string
TrainingMonitor::PathOf(const char *name) const
{
  return m_Settings.directory + "/" + name;
}

} // namespace cli
} // namespace medgen
