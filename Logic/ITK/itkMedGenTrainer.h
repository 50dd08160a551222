// itk::MedGenTrainer: trains a MedGen model (a DDPM or a GAN) on ITK images, for ITK code and the MedGenTrain
// Slicer CLI module.
//
// Inputs: one or more 3D images (any scalar pixel type; indexed inputs 0, 1, ... through SetInput/AddTrainingImage),
// each with an optional class name and an optional label map aligned with it (see medgen::SliceSet for how slices,
// classes and label maps work). A pipeline works as usual: trainer->SetInput(reader->GetOutput()); Update() updates
// the readers first.
//
// Update() cuts the inputs into slices along Axis at ImageSize x ImageSize, normalizes them (robust percentiles, or
// the intensity window when UseIntensityWindow is on), and trains until NumberOfIterations steps are done, writing
// CheckpointFileName every CheckpointInterval steps and at the end. When CheckpointFileName already holds a run of
// this trainer's model kind and Resume is on (the default), training continues from it: the same inputs are
// expected, and an interrupted-and-resumed run ends with the same weights as an uninterrupted one.
//
// Progress: one ProgressEvent per training step (GetProgress() = steps done / NumberOfIterations); GetLoss() gives
// the last step's loss (a GAN's: the discriminator's). AbortGenerateDataOn() from an observer stops after the current
// step: a checkpoint is written, then itk::ProcessAborted is thrown.
// Errors: itk::MedGenError (itkMedGenImageSource.h) with the engine's or slicer's message naming the input or file.
//
// The checkpoint records the source pixel type and pixel size (notes run.pixel_type, run.mm_per_pixel, run.axis)
// so that samples come back in the inputs' units and type, and the device the last session trained on (run.device).
#ifndef itkMedGenTrainer_h
#define itkMedGenTrainer_h

#include <cstdint>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkMedGenImageSource.h"
#include "itkProcessObject.h"

namespace itk
{

template <typename TInputImage>
class ITK_TEMPLATE_EXPORT MedGenTrainer : public ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(MedGenTrainer);

  using Self = MedGenTrainer;
  using Superclass = ProcessObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  using InputImageType = TInputImage;
  using InputPixelType = typename TInputImage::PixelType;
  static_assert(TInputImage::ImageDimension == 3, "MedGenTrainer trains on 3D volumes");
  using LabelMapType = Image<float, 3>; // any integer label image is read or cast to this

  itkNewMacro(Self);
  itkTypeMacro(MedGenTrainer, ProcessObject);

  // Input i (0-based) with its class ("" for an unconditional model; then every input must be "").
  void SetInput(unsigned int index, const InputImageType *image, const std::string &className = "");
  // Input 0, for pipelines of one volume.
  void
  SetInput(const InputImageType *image, const std::string &className = "")
  {
    this->SetInput(0, image, className);
  }
  // Appends an input; returns its index.
  unsigned int AddTrainingImage(const InputImageType *image, const std::string &className = "");
  const InputImageType *GetInput(unsigned int index) const;
  // A label map for input index (same size and geometry), giving each slice's class; "" class names then.
  void SetLabelMap(unsigned int index, const LabelMapType *labelMap);

  // "ddpm" (default) or "gan".
  itkSetStringMacro(ModelType);
  itkGetStringMacro(ModelType);
  // A preset of that model kind ("unet-s", "unet-monai", "dcgan-64"); empty: the kind's default (unet-s,
  // dcgan-64).
  itkSetStringMacro(Preset);
  itkGetStringMacro(Preset);
  // Smaller (or larger) models than the preset, e.g. for tests; 0 keeps the preset's. BaseChannels (DDPM, even): the
  // UNet's channels at full resolution; the preset's attention-head and time-embedding widths scale with it, and
  // GroupNorm's group count becomes the greatest common divisor of the preset's and BaseChannels. Width (GAN, 4 to 512): the
  // networks' channels at full resolution.
  itkSetClampMacro(BaseChannels, unsigned int, 0, 4096);
  itkGetConstMacro(BaseChannels, unsigned int);
  itkSetClampMacro(Width, unsigned int, 0, 512);
  itkGetConstMacro(Width, unsigned int);
  // "axial" (default), "coronal" or "sagittal".
  itkSetStringMacro(Axis);
  itkGetStringMacro(Axis);
  // Slices are ImageSize x ImageSize (default 64; a GAN takes 32, 64, 128 or 256).
  itkSetClampMacro(ImageSize, unsigned int, 8, 256);
  itkGetConstMacro(ImageSize, unsigned int);
  itkSetMacro(UseIntensityWindow, bool);
  itkGetConstMacro(UseIntensityWindow, bool);
  itkBooleanMacro(UseIntensityWindow);
  itkSetMacro(WindowMinimum, double);
  itkGetConstMacro(WindowMinimum, double);
  itkSetMacro(WindowMaximum, double);
  itkGetConstMacro(WindowMaximum, double);

  // Total training steps (default 2000) and images per step (default 16).
  itkSetClampMacro(NumberOfIterations, unsigned int, 1, 100000000);
  itkGetConstMacro(NumberOfIterations, unsigned int);
  itkSetClampMacro(BatchSize, unsigned int, 1, 1024);
  itkGetConstMacro(BatchSize, unsigned int);
  // Learning rate (a GAN's generator and discriminator both); 0: the model kind's default.
  itkSetMacro(LearningRate, double);
  itkGetConstMacro(LearningRate, double);
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  // Engine threads; 0: all cores.
  itkSetClampMacro(NumberOfThreads, int, 0, 4096);
  itkGetConstMacro(NumberOfThreads, int);
  // "auto" (default: the CUDA GPU when this build has the CUDA backend and the machine a usable GPU, else the CPU;
  // a build with the backend on a machine without a GPU says why in an ITK warning, once per process), "cpu", or
  // "cuda" (Update throws itk::MedGenError with the engine's reason when no GPU can be used). Another name throws.
  itkSetStringMacro(Device);
  itkGetStringMacro(Device);

  // Where the run is kept. A checkpoint of another model kind there, or a file that is no MedGen checkpoint, is
  // never overwritten (Update throws). With Resume off, a checkpoint of this kind there is replaced by a new run.
  // A resumed run keeps the checkpoint's model, BatchSize, LearningRate and Seed; NumberOfIterations and
  // CheckpointInterval apply. When it has done NumberOfIterations steps already, Update trains no more.
  itkSetStringMacro(CheckpointFileName);
  itkGetStringMacro(CheckpointFileName);
  itkSetClampMacro(CheckpointInterval, unsigned int, 1, 100000000);
  itkGetConstMacro(CheckpointInterval, unsigned int);
  itkSetMacro(Resume, bool);
  itkGetConstMacro(Resume, bool);
  itkBooleanMacro(Resume);

  // After Update(): slices trained on, steps done (including a resumed run's earlier ones), the last loss (NaN when
  // no step ran), whether the run continued a checkpoint.
  itkGetConstMacro(NumberOfSlices, unsigned int);
  itkGetConstMacro(CompletedIterations, unsigned int);
  itkGetConstMacro(Loss, double);
  itkGetConstMacro(Resumed, bool);

  // Updates the inputs, then trains.
  void Update() override;

protected:
  MedGenTrainer();
  ~MedGenTrainer() override = default;
  void PrintSelf(std::ostream &os, Indent indent) const override;
  void GenerateData() override;

private:
  // The name messages use for input i: its reader's file name, else "input i".
  std::string InputName(unsigned int index) const;
  [[noreturn]] void Fail(const std::string &message) const;

  std::vector<std::string> m_ClassNames;
  std::vector<typename LabelMapType::ConstPointer> m_LabelMaps;

  std::string m_ModelType{ "ddpm" };
  std::string m_Preset;
  std::string m_Axis{ "axial" };
  unsigned int m_ImageSize{ 64 };
  unsigned int m_BaseChannels{ 0 };
  unsigned int m_Width{ 0 };
  bool m_UseIntensityWindow{ false };
  double m_WindowMinimum{ -1000.0 };
  double m_WindowMaximum{ 1000.0 };
  unsigned int m_NumberOfIterations{ 2000 };
  unsigned int m_BatchSize{ 16 };
  double m_LearningRate{ 0.0 };
  uint64_t m_Seed{ 1 };
  int m_NumberOfThreads{ 0 };
  std::string m_Device{ "auto" };
  std::string m_CheckpointFileName;
  unsigned int m_CheckpointInterval{ 500 };
  bool m_Resume{ true };

  unsigned int m_NumberOfSlices{ 0 };
  unsigned int m_CompletedIterations{ 0 };
  double m_Loss{ 0.0 };
  bool m_Resumed{ false };
};

} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMedGenTrainer.hxx"
#endif

#endif
