// vtkMedGenLogic: what MedGen's GUIs do, on vtkImageData volumes with their IJK-to-RAS matrices, without Qt or
// Slicer (the Qt widgets and Slicer's vtkSlicerMedGenLogic are thin layers over it):
//   - training input: the volumes to learn from (up to three, or one with a label map), written as NRRD files into
//     the work folder, because training runs out of process;
//   - a training job: the MedGenTrain CLI module (vtkMedGenJob), started, polled, cancelled (a kill) and resumed
//     (MedGenTrain continues from its last checkpoint). MedGenTrain writes progress.json, loss.csv and preview.nrrd
//     into the monitor folder while it runs (MedGenTrain.cxx documents them); Poll reads them;
//   - a sampling job: the MedGenSample CLI module drawing synthetic images from the model (new seed, class);
//   - synthetic volumes on a source volume's grid (medgenVtkVolumes.h), for the scene or for a file.
// Work folder layout: inputs/volume<i>.nrrd, inputs/labels.nrrd, model.safetensors, monitor/, samples/, logs/.
// Errors: functions return false and GetErrorText() says why, naming the file; nothing here throws or exits.
#ifndef vtkMedGenLogic_h
#define vtkMedGenLogic_h

#include <string>
#include <utility>
#include <vector>

#include "vtkObject.h"
#include "vtkSmartPointer.h"

class vtkImageData;
class vtkMatrix4x4;
class vtkMedGenJob;

class vtkMedGenLogic : public vtkObject
{
public:
  static vtkMedGenLogic *New();
  vtkTypeMacro(vtkMedGenLogic, vtkObject);
  void PrintSelf(ostream &os, vtkIndent indent) override;

  // The folder holding the MedGenTrain and MedGenSample executables.
  vtkSetStdStringFromCharMacro(CLIDirectory);
  vtkGetCharFromStdStringMacro(CLIDirectory);
  // This session's work folder (created when needed). Training again in the same folder continues its model.
  vtkSetStdStringFromCharMacro(WorkDirectory);
  vtkGetCharFromStdStringMacro(WorkDirectory);
  const std::string &GetErrorText() const { return this->ErrorText; }

  // ---- Training input ----
  // Adds a volume (one component; Slicer: the node's image data and IJK-to-RAS matrix) named name (the node's name,
  // used in messages and synthetic volume names). Returns its index, or -1 with ErrorText (more than three volumes,
  // several components, no voxels). Kept by reference and written when training starts; ijkToRAS null: identity.
  int AddTrainingVolume(vtkImageData *image, vtkMatrix4x4 *ijkToRAS, const std::string &name);
  // Optional, with a single training volume: a label map aligned with it (each slice's class, see MedGenTrain).
  bool SetTrainingLabelMap(vtkImageData *labels, vtkMatrix4x4 *ijkToRAS, const std::string &name);
  void ClearTrainingInput();
  int GetNumberOfTrainingVolumes() const;
  std::string GetTrainingVolumeName(int index) const;

  // ---- Training ----
  struct TrainingSettings
  {
    std::string modelType = "gan";   // "gan" or "ddpm"
    std::string preset = "fast";     // "fast" or "quality"
    std::string axis = "axial";      // "axial", "coronal", "sagittal"
    std::string device = "auto";     // "auto", "cpu", "cuda"
    int imageSize = 0;               // 0: the preset's
    int iterations = 0;              // 0: the preset's
    int batchSize = 0;               // 0: the preset's
    int seed = 1;
    bool useWindow = false;          // true: [windowMin, windowMax] instead of percentiles
    double windowMin = -1000.0, windowMax = 1000.0;
    int baseChannels = 0, width = 0; // network size overrides (0: the preset's)
    int checkpointInterval = 100;
    int previewSeconds = 30;         // at least this long between training previews
    int threads = 0;
  };
  // Writes the training input and starts MedGenTrain. restart: a new model; the work folder's model and monitor
  // files are removed first, so a Stop before the new run's first checkpoint and a Resume start the new run again
  // rather than continue the old model. Without restart, MedGenTrain continues the folder's model with the network
  // size and seed stored in it, and refuses another model type, axis, slice size or intensity window. false when a
  // training or sampling job is running, no volume was added, or the input cannot be written.
  bool StartTraining(const TrainingSettings &settings, bool restart);
  // Kills the training job; the last checkpoint stays. ResumeTraining starts it again with the same settings.
  void CancelTraining();
  bool ResumeTraining();

  enum JobState
  {
    NotStarted,
    Running,
    Finished,
    Failed,
    Cancelled
  };
  struct TrainingStatus
  {
    JobState state = NotStarted;
    long step = 0, total = 0;   // steps done, steps in the run
    double loss = 0.0;          // the last step's loss (NaN before the first)
    double elapsedSeconds = 0.0;
    double etaSeconds = -1.0;   // -1: not known yet
    long previewStep = -1;      // the training step the newest preview shows; -1: none yet
    std::string message;        // the last progress comment, or why it failed
  };
  // Does not block: reads the job's state and the monitor files.
  TrainingStatus PollTraining();
  // (step, loss) of every step so far, the whole run including before a resume; updated by PollTraining.
  const std::vector<std::pair<long, double>> &GetLossHistory() const { return this->LossHistory; }
  // The newest training preview (size x size x n, source units) into slices; false when none yet. Loaded slices
  // carry the training axis of the model that drew them (field data "MedGen.Axis"), for MakeSyntheticVolume.
  bool LoadTrainingPreview(vtkImageData *slices);
  // The trained model (work folder's model.safetensors); "" before one exists.
  std::string GetModelFileName() const;
  // The model's class names (empty: unconditional, or no model yet).
  std::vector<std::string> GetClassNames();

  // ---- Sampling ----
  struct SamplingSettings
  {
    int count = 16;
    int seed = 1;
    std::string className;       // "" for none
    std::string sampler = "ddim";
    int steps = 50;
    double guidance = 1.0, truncation = 0.0;
    std::string device = "auto";
  };
  // Starts MedGenSample on the model; samples go to samples/seed<seed>.nrrd (marked synthetic). false when no model.
  bool StartSampling(const SamplingSettings &settings);
  JobState PollSampling(double *progress = nullptr);
  void CancelSampling();
  // The finished sampling job's images (size x size x count, source units) into slices, its file into fileName.
  bool LoadSamples(vtkImageData *slices, std::string *fileName = nullptr);
  // Copies the newest samples file (marked synthetic) to path (.nrrd, .nhdr, .mha or .mhd: formats that keep every
  // mark), atomically.
  bool ExportSamples(const std::string &path);

  // ---- Synthetic volumes ----
  // picks from slices onto training volume sourceIndex's grid (medgen::SyntheticVolume, along the axis the slices
  // carry from LoadSamples or LoadTrainingPreview, else the current model's).
  bool MakeSyntheticVolume(vtkImageData *slices, const std::vector<int> &picks, int sourceIndex, vtkImageData *out,
                           vtkMatrix4x4 *outIJKToRAS);

protected:
  vtkMedGenLogic();
  ~vtkMedGenLogic() override; // cancels running jobs

private:
  vtkMedGenLogic(const vtkMedGenLogic &) = delete;
  // The current model's training axis (its run.axis note); false with ErrorText when there is none.
  bool ModelAxis(std::string &axis);
  // Records ModelAxis in slices' field data (array "MedGen.Axis"), where MakeSyntheticVolume looks first.
  bool TagWithModelAxis(vtkImageData *slices);
  void operator=(const vtkMedGenLogic &) = delete;
  struct Internals;
  Internals *Internal;
  std::string CLIDirectory;
  std::string WorkDirectory;
  std::string ErrorText;
  std::vector<std::pair<long, double>> LossHistory;
};

#endif
