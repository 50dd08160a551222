// medgenTrainingMonitor: the monitor folder MedGenTrain writes with --monitorDirectory, for a GUI that polls it while
// training runs out of process (Slicer's way to live previews: files the job writes, read on a timer).
//
//   progress.json  {"state": "running"|"done"|"failed", "step", "total", "loss" (null before a step),
//                  "elapsed_seconds", "eta_seconds" (null until known), "slices", "preview_step" (-1: no preview yet),
//                  "model" (absolute path), "message" (the last progress comment, or the failure)}: replaced
//                  atomically at the start, at most twice a second while training, after each preview and at the end.
//   loss.csv       "step,loss", then "<step>,<loss %.9g>" per training step, flushed with progress.json and before
//                  each checkpoint. A resumed run first drops the lines after the step it resumes from; a new run
//                  starts the file over.
//   preview.nrrd   16 images (size x size x 16, float, in the training volumes' units) drawn from the newest
//                  checkpoint with seed 1 (DDPM: EMA weights, DDIM 20 steps), marked synthetic like MedGenSample's
//                  output plus MedGen_TrainingStep; replaced atomically, at most once per previewSeconds (0: at every
//                  checkpoint) and at most a tenth of the time (previewSeconds > 0), and always at the end.
// Progress and previews come from the training thread, between steps: a preview pauses training while it is drawn.
#ifndef medgenTrainingMonitor_h
#define medgenTrainingMonitor_h

#include <chrono>
#include <fstream>
#include <string>

#include "itkEventObject.h"

namespace medgen
{
namespace cli
{

struct MonitorSettings
{
  std::string directory; // "": no monitor folder
  std::string model;     // the checkpoint training writes
  long totalSteps{ 0 };
  long checkpointInterval{ 1 };
  long previewSeconds{ 30 };
  std::string device; // previews are drawn where training runs
  int threads{ 0 };
};

class TrainingMonitor
{
public:
  // Creates the folder when missing and writes progress.json (state running, message). Without a directory, every
  // call does nothing.
  TrainingMonitor(const MonitorSettings &settings, const std::string &message);
  TrainingMonitor(const TrainingMonitor &) = delete;
  TrainingMonitor &operator=(const TrainingMonitor &) = delete;

  // The message progress.json shows (Slicer's latest progress comment).
  void Comment(const std::string &text);
  // The run continues a checkpoint that has done step steps.
  void Resuming(long step);
  // Follows trainer's ProgressEvents (an itk::MedGenTrainer): one per training step.
  template <typename TTrainer>
  void
  Watch(TTrainer *trainer)
  {
    if (m_Settings.directory.empty())
      return;
    trainer->AddObserver(itk::ProgressEvent(), [this, trainer](const itk::EventObject &) {
      this->Step(trainer->GetCompletedIterations(), trainer->GetLoss(), trainer->GetNumberOfSlices());
    });
  }
  // Training ended with the checkpoint at step: previews it, then state done.
  void Finish(long step, double loss, long slices);
  // Training failed: state failed with message. Never throws, so that the failure itself propagates.
  void Fail(const std::string &message) noexcept;

private:
  using Clock = std::chrono::steady_clock;

  void Step(long step, double loss, long slices);
  // loss.csv keeps its lines of steps 1 to lastKept, then takes this run's.
  void StartLossFile(long lastKept);
  void FlushLosses();
  void WriteProgress();
  void WritePreview(long step);
  double SecondsSince(Clock::time_point t) const;
  std::string PathOf(const char *name) const;

  MonitorSettings m_Settings;
  std::string m_ModelPath; // absolute
  std::string m_State{ "running" };
  std::string m_Message;
  long m_Step{ 0 };
  double m_Loss;
  long m_Slices{ 0 };
  long m_FirstStep{ -1 }; // this process's first step, -1 before it
  long m_NewestCheckpoint{ -1 };
  long m_PreviewStep{ -1 };
  Clock::time_point m_Started;
  Clock::time_point m_FirstStepTime;
  Clock::time_point m_LastWrite;
  Clock::time_point m_LastPreview;
  double m_PreviewSeconds{ 0.0 }; // how long the last preview took
  std::ofstream m_LossFile;
  std::string m_PendingLosses;
};

} // namespace cli
} // namespace medgen

#endif
