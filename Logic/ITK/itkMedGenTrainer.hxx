#ifndef itkMedGenTrainer_hxx
#define itkMedGenTrainer_hxx

#include "itkMedGenTrainer.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>
#include <sstream>
#include <utility>

#include "itkCastImageFilter.h"
#include "itkImageFileReader.h"
#include "itkImageIOBase.h"
#include "itkMedGenEngineBridge.h"
#include "itksys/SystemTools.hxx"
#include "medgen.h"
#include "medgenVolumeSlices.h"

namespace itk
{

namespace medgen_detail
{
// Progress as the image source reports it; the trainer's step count and loss are updated first, so that progress
// observers can read them.
struct TrainingProgress
{
  ProgressBridge bridge;
  unsigned int *completed;
  double *loss;
};

inline int
OnTrainingProgress(void *user, const mg_progress *progress)
{
  auto *training = static_cast<TrainingProgress *>(user);
  *training->completed = static_cast<unsigned int>(progress->step);
  *training->loss = progress->loss;
  return OnEngineProgress(&training->bridge, progress);
}

// The reader an image comes from, or nullptr: its file name says best which input a message is about.
template <typename TImage>
const ImageFileReader<TImage> *
ReaderOf(const TImage *image)
{
  return image ? dynamic_cast<const ImageFileReader<TImage> *>(image->GetSource().GetPointer()) : nullptr;
}

// The UNet preset scaled to baseChannels: head and time-embedding widths keep their ratio to the base, and the
// GroupNorm group count divides the base (so it divides every level).
inline void
ScaleUNet(mg_unet_config &unet, int baseChannels)
{
  unet.head_channels = unet.head_channels * baseChannels / unet.base_channels;
  unet.temb_channels = unet.temb_channels * baseChannels / unet.base_channels;
  unet.groups = std::gcd(unet.groups, baseChannels);
  unet.base_channels = baseChannels;
}
} // namespace medgen_detail

template <typename TInputImage>
MedGenTrainer<TInputImage>::MedGenTrainer()
{
  this->SetNumberOfRequiredOutputs(0);
}

template <typename TInputImage>
void
MedGenTrainer<TInputImage>::SetInput(unsigned int index, const InputImageType *image, const std::string &className)
{
  this->SetNthInput(index, const_cast<InputImageType *>(image));
  if (m_ClassNames.size() <= index)
    m_ClassNames.resize(index + 1);
  m_ClassNames[index] = className;
  this->Modified();
}

template <typename TInputImage>
unsigned int
MedGenTrainer<TInputImage>::AddTrainingImage(const InputImageType *image, const std::string &className)
{
  const auto index = static_cast<unsigned int>(this->GetNumberOfIndexedInputs());
  this->SetInput(index, image, className);
  return index;
}

template <typename TInputImage>
auto
MedGenTrainer<TInputImage>::GetInput(unsigned int index) const -> const InputImageType *
{
  return dynamic_cast<const InputImageType *>(
    this->Superclass::GetInput(static_cast<DataObjectPointerArraySizeType>(index)));
}

template <typename TInputImage>
void
MedGenTrainer<TInputImage>::SetLabelMap(unsigned int index, const LabelMapType *labelMap)
{
  if (m_LabelMaps.size() <= index)
    m_LabelMaps.resize(index + 1);
  m_LabelMaps[index] = labelMap;
  this->Modified();
}

template <typename TInputImage>
std::string
MedGenTrainer<TInputImage>::InputName(unsigned int index) const
{
  const auto *reader = medgen_detail::ReaderOf(this->GetInput(index));
  if (reader && !reader->GetFileName().empty())
    return reader->GetFileName();
  return "input " + std::to_string(index);
}

template <typename TInputImage>
void
MedGenTrainer<TInputImage>::Fail(const std::string &message) const
{
  MedGenError error(__FILE__, __LINE__, message);
  error.SetLocation("itk::MedGenTrainer");
  throw error;
}

template <typename TInputImage>
void
MedGenTrainer<TInputImage>::Update()
{
  // A trainer has no output to pull the pipeline with: like an image writer, it brings each input up to date
  // whole, then runs.
  std::vector<DataObject *> inputs;
  for (unsigned int i = 0; i < this->GetNumberOfIndexedInputs(); ++i)
    inputs.push_back(const_cast<InputImageType *>(this->GetInput(i)));
  for (const auto &labelMap : m_LabelMaps)
    inputs.push_back(const_cast<LabelMapType *>(labelMap.GetPointer()));
  for (DataObject *input : inputs)
  {
    if (!input)
      continue;
    input->UpdateOutputInformation();
    input->SetRequestedRegionToLargestPossibleRegion();
    input->PropagateRequestedRegion();
    input->UpdateOutputData();
  }
  this->SetAbortGenerateData(false);
  this->InvokeEvent(StartEvent());
  this->UpdateProgress(0.0f);
  try
  {
    this->GenerateData();
  }
  catch (ProcessAborted &)
  {
    this->InvokeEvent(AbortEvent());
    throw;
  }
  this->InvokeEvent(EndEvent());
}

template <typename TInputImage>
void
MedGenTrainer<TInputImage>::GenerateData()
{
  m_NumberOfSlices = 0;
  m_CompletedIterations = 0;
  m_Loss = std::numeric_limits<double>::quiet_NaN();
  m_Resumed = false;
  const bool isGan = m_ModelType == "gan";
  if (!isGan && m_ModelType != "ddpm")
    this->Fail("MedGenTrainer: ModelType \"" + m_ModelType + "\": must be ddpm or gan");
  if (m_CheckpointFileName.empty())
    this->Fail("MedGenTrainer: no CheckpointFileName set");
  if (this->GetNumberOfIndexedInputs() == 0)
    this->Fail("MedGenTrainer: no input images");
  medgen::SliceOptions options;
  if (m_Axis == "axial")
    options.axis = medgen::SliceAxis::Axial;
  else if (m_Axis == "coronal")
    options.axis = medgen::SliceAxis::Coronal;
  else if (m_Axis == "sagittal")
    options.axis = medgen::SliceAxis::Sagittal;
  else
    this->Fail("MedGenTrainer: Axis \"" + m_Axis + "\": must be axial, coronal or sagittal");
  if (m_UseIntensityWindow && !(m_WindowMinimum < m_WindowMaximum))
    this->Fail("MedGenTrainer: the intensity window [" + std::to_string(m_WindowMinimum) + ", " +
               std::to_string(m_WindowMaximum) + "] is empty");
  options.size = static_cast<int>(m_ImageSize);
  if (m_UseIntensityWindow)
  {
    options.normalization = medgen::Normalization::Window;
    options.window_low = m_WindowMinimum;
    options.window_high = m_WindowMaximum;
  }
  const mg_device device = medgen_detail::ResolveDevice(m_Device);
  const std::string &path = m_CheckpointFileName;

  // What lies at CheckpointFileName decides between a new run and a resumed one; nothing else is overwritten.
  medgen_detail::EngineModel run;
  char err[4096] = "";
  if (itksys::SystemTools::FileExists(path, true))
  {
    if (mg_checkpoint_load(path.c_str(), &run.ckpt, err, sizeof err) != MG_OK)
      this->Fail(std::string(err) + " (MedGenTrainer does not overwrite it: choose another CheckpointFileName)");
    const char *type = mg_checkpoint_model_type(run.ckpt);
    const std::string kind = type ? type : "unknown";
    if (kind != m_ModelType)
      this->Fail(path + ": holds a " + kind + " checkpoint, and this trainer's ModelType is " + m_ModelType +
                 ": choose another CheckpointFileName (or ModelType " + kind + " to continue that run)");
    m_Resumed = m_Resume;
  }

  // The slices of every input, normalized together.
  medgen::SliceSet slices(options);
  const std::string pixelType =
    ImageIOBase::GetComponentTypeAsString(ImageIOBase::MapPixelType<InputPixelType>::CType);
  for (unsigned int i = 0; i < this->GetNumberOfIndexedInputs(); ++i)
  {
    const InputImageType *image = this->GetInput(i);
    if (!image)
      this->Fail("MedGenTrainer: input " + std::to_string(i) + " is not set");
    // ITK's reader silently keeps a 4D file's first volume and turns colour into grey: refuse both, as
    // medgen::SliceSet does for the files it reads itself.
    const auto *reader = medgen_detail::ReaderOf(image);
    if (const ImageIOBase *io = reader ? reader->GetImageIO() : nullptr)
    {
      medgen::CheckSingleChannel(this->InputName(i), *io);
      medgen::CheckComplete(reader->GetFileName());
    }
    using CastType = CastImageFilter<InputImageType, medgen::VolumeType>;
    auto cast = CastType::New();
    cast->SetInput(image);
    cast->Update();
    const LabelMapType *labelMap = i < m_LabelMaps.size() ? m_LabelMaps[i].GetPointer() : nullptr;
    const auto *labelMapReader = medgen_detail::ReaderOf(labelMap);
    const std::string labelMapName = labelMapReader ? labelMapReader->GetFileName() : "";
    if (labelMapReader)
      medgen::CheckComplete(labelMapName);
    slices.AddImage(cast->GetOutput(), this->InputName(i), pixelType, i < m_ClassNames.size() ? m_ClassNames[i] : "",
                    labelMap, labelMapName);
  }
  const mg_dataset &data = slices.Dataset();
  m_NumberOfSlices = static_cast<unsigned int>(data.count);

  mg_context_options contextOptions{ device, m_NumberOfThreads, 0 };
  if (mg_context_create(&contextOptions, &run.ctx, err, sizeof err) != MG_OK)
    this->Fail(std::string("MedGenTrainer: cannot start the engine: ") + err);
  auto engineError = [&]() {
    const std::string resuming = m_Resumed ? " (resuming " + path + ")" : "";
    this->Fail(std::string("MedGenTrainer: ") + mg_context_error(run.ctx) + resuming);
  };
  const int64_t steps = m_NumberOfIterations;
  const int64_t interval = m_CheckpointInterval;
  if (m_Resumed)
  {
    int64_t done;
    mg_status status;
    if (isGan)
    {
      if (mg_gan_load(run.ctx, run.ckpt, MG_WEIGHTS_TRAINING, &run.gan) != MG_OK)
        engineError();
      done = mg_gan_step(run.gan);
      mg_gan_train_options train = mg_gan_train_options_of(run.gan);
      train.steps = steps;
      train.checkpoint_every = interval;
      train.checkpoint_path = path.c_str();
      status = done < steps ? mg_gan_set_train_options(run.gan, &train) : MG_OK;
    }
    else
    {
      if (mg_ddpm_load(run.ctx, run.ckpt, MG_WEIGHTS_TRAINING, &run.ddpm) != MG_OK)
        engineError();
      done = mg_ddpm_step(run.ddpm);
      mg_ddpm_train_options train = mg_ddpm_train_options_of(run.ddpm);
      train.steps = steps;
      train.checkpoint_every = interval;
      train.checkpoint_path = path.c_str();
      status = done < steps ? mg_ddpm_set_train_options(run.ddpm, &train) : MG_OK;
    }
    if (done > steps)
      this->Fail(path + ": has done " + std::to_string(done) + " steps, more than NumberOfIterations (" +
                 std::to_string(steps) + "): raise NumberOfIterations to continue it");
    if (status != MG_OK)
      engineError();
    if (done == steps)
    {
      m_CompletedIterations = static_cast<unsigned int>(done);
      this->UpdateProgress(1.0f);
      return;
    }
  }
  else
  {
    char mmPerPixel[32];
    std::snprintf(mmPerPixel, sizeof mmPerPixel, "%.9g", slices.Source(0).mm_per_pixel);
    std::ostringstream window;
    window.precision(17);
    if (m_UseIntensityWindow)
      window << m_WindowMinimum << "," << m_WindowMaximum;
    else
      window << "percentiles";
    // What sampling needs to give images in the inputs' units, type and pixel size (as `medgen train` notes them).
    const std::pair<const char *, std::string> notes[] = { { "run.pixel_type", slices.PixelType() },
                                                           { "run.mm_per_pixel", mmPerPixel },
                                                           { "run.axis", m_Axis },
                                                           { "run.window", window.str() } };
    if (isGan)
    {
      mg_gan_config config;
      if (mg_gan_preset(m_Preset.empty() ? "dcgan-64" : m_Preset.c_str(), &config, err, sizeof err) != MG_OK)
        this->Fail(std::string("MedGenTrainer: ") + err);
      config.image_size = data.size;
      config.channels = data.channels;
      config.num_classes = data.num_classes;
      if (m_Width)
        config.width = static_cast<int>(m_Width);
      mg_gan_train_options train = mg_gan_default_train_options();
      train.steps = steps;
      train.batch = static_cast<int>(m_BatchSize);
      if (m_LearningRate > 0)
        train.lr_g = train.lr_d = m_LearningRate;
      train.seed = m_Seed;
      train.checkpoint_every = interval;
      train.checkpoint_path = path.c_str();
      if (mg_gan_config_check(&config, err, sizeof err) != MG_OK)
        this->Fail(std::string("MedGenTrainer: ") + err);
      if (mg_gan_create(run.ctx, &config, &train, &run.gan) != MG_OK)
        engineError();
      for (const auto &note : notes)
        if (mg_gan_set_note(run.gan, note.first, note.second.c_str()) != MG_OK)
          engineError();
    }
    else
    {
      mg_ddpm_config config;
      if (mg_ddpm_default_config(m_Preset.empty() ? "unet-s" : m_Preset.c_str(), &config, err, sizeof err) != MG_OK)
        this->Fail(std::string("MedGenTrainer: ") + err);
      config.unet.image_size = data.size;
      config.unet.in_channels = data.channels;
      config.unet.num_classes = data.num_classes;
      if (m_BaseChannels)
        medgen_detail::ScaleUNet(config.unet, static_cast<int>(m_BaseChannels));
      mg_ddpm_train_options train = mg_ddpm_default_train_options();
      train.steps = steps;
      train.batch = static_cast<int>(m_BatchSize);
      if (m_LearningRate > 0)
        train.learning_rate = m_LearningRate;
      train.seed = m_Seed;
      train.checkpoint_every = interval;
      train.checkpoint_path = path.c_str();
      if (mg_unet_config_check(&config.unet, err, sizeof err) != MG_OK)
        this->Fail(std::string("MedGenTrainer: ") + err);
      if (mg_ddpm_create(run.ctx, &config, &train, &run.ddpm) != MG_OK)
        engineError();
      for (const auto &note : notes)
        if (mg_ddpm_set_note(run.ddpm, note.first, note.second.c_str()) != MG_OK)
          engineError();
    }
  }

  // Where this session trains (a resumed run may have trained elsewhere before), as `medgen train` notes it.
  if ((isGan ? mg_gan_set_note(run.gan, "run.device", mg_device_name(device))
             : mg_ddpm_set_note(run.ddpm, "run.device", mg_device_name(device))) != MG_OK)
    engineError();

  // Training writes CheckpointFileName every CheckpointInterval steps, at the end, and when cancelled.
  medgen_detail::TrainingProgress progress{ { this, nullptr }, &m_CompletedIterations, &m_Loss };
  const mg_status status = isGan ? mg_gan_train(run.gan, &data, medgen_detail::OnTrainingProgress, &progress)
                                 : mg_ddpm_train(run.ddpm, &data, medgen_detail::OnTrainingProgress, &progress);
  m_CompletedIterations = static_cast<unsigned int>(isGan ? mg_gan_step(run.gan) : mg_ddpm_step(run.ddpm));
  if (progress.bridge.error)
    std::rethrow_exception(progress.bridge.error);
  if (status == MG_ERR_CANCELLED)
  {
    ProcessAborted e(__FILE__, __LINE__);
    e.SetLocation(ITK_LOCATION);
    e.SetDescription("MedGenTrainer: training aborted at step " + std::to_string(m_CompletedIterations) +
                     "; the checkpoint " + path + " continues it");
    throw e;
  }
  if (status != MG_OK)
    engineError();
}

template <typename TInputImage>
void
MedGenTrainer<TInputImage>::PrintSelf(std::ostream &os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "ClassNames:";
  for (const auto &name : m_ClassNames)
    os << " \"" << name << "\"";
  os << std::endl;
  os << indent << "LabelMaps:";
  for (const auto &labelMap : m_LabelMaps)
    os << " " << labelMap.GetPointer();
  os << std::endl;
  os << indent << "ModelType: " << m_ModelType << std::endl;
  os << indent << "Preset: " << m_Preset << std::endl;
  os << indent << "BaseChannels: " << m_BaseChannels << std::endl;
  os << indent << "Width: " << m_Width << std::endl;
  os << indent << "Axis: " << m_Axis << std::endl;
  os << indent << "ImageSize: " << m_ImageSize << std::endl;
  os << indent << "UseIntensityWindow: " << (m_UseIntensityWindow ? "On" : "Off") << std::endl;
  os << indent << "WindowMinimum: " << m_WindowMinimum << std::endl;
  os << indent << "WindowMaximum: " << m_WindowMaximum << std::endl;
  os << indent << "NumberOfIterations: " << m_NumberOfIterations << std::endl;
  os << indent << "BatchSize: " << m_BatchSize << std::endl;
  os << indent << "LearningRate: " << m_LearningRate << std::endl;
  os << indent << "Seed: " << m_Seed << std::endl;
  os << indent << "NumberOfThreads: " << m_NumberOfThreads << std::endl;
  os << indent << "Device: " << m_Device << std::endl;
  os << indent << "CheckpointFileName: " << m_CheckpointFileName << std::endl;
  os << indent << "CheckpointInterval: " << m_CheckpointInterval << std::endl;
  os << indent << "Resume: " << (m_Resume ? "On" : "Off") << std::endl;
  os << indent << "NumberOfSlices: " << m_NumberOfSlices << std::endl;
  os << indent << "CompletedIterations: " << m_CompletedIterations << std::endl;
  os << indent << "Loss: " << m_Loss << std::endl;
  os << indent << "Resumed: " << (m_Resumed ? "On" : "Off") << std::endl;
}

} // namespace itk

#endif
