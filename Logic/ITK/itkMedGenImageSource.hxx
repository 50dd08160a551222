#ifndef itkMedGenImageSource_hxx
#define itkMedGenImageSource_hxx

#include "itkMedGenImageSource.h"

#include <exception>
#include <sstream>
#include <vector>

#include "itkImageRegionIteratorWithIndex.h"
#include "itkMedGenEngineBridge.h"
#include "itkMetaDataObject.h"
#include "medgen.h"
#include "mg_itk.h"

namespace itk
{

// The engine model kept between updates, with what it was loaded from and what it makes.
template <typename TOutputImage>
struct MedGenImageSource<TOutputImage>::Engine : medgen_detail::EngineModel
{
  std::string file;
  bool ema{ true };
  std::string device;
  std::string fingerprint;
  int size{ 0 };
  int channels{ 0 };
};

template <typename TOutputImage>
MedGenImageSource<TOutputImage>::MedGenImageSource()
{
  m_Spacing.Fill(1.0);
  m_Origin.Fill(0.0);
  m_Direction.SetIdentity();
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::ThrowEngineError(const std::string &message) const
{
  // Engine messages about files already start with the path; others get it prepended.
  std::string text = message;
  if (text.find(m_ModelFileName) == std::string::npos)
    text = m_ModelFileName + ": " + text;
  throw MedGenError(__FILE__, __LINE__, text);
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::LoadModel()
{
  if (m_ModelFileName.empty())
    throw MedGenError(__FILE__, __LINE__, "MedGenImageSource: no ModelFileName set");
  if (m_Engine && m_Engine->file == m_ModelFileName && m_Engine->ema == m_UseEMAWeights &&
      m_Engine->device == m_Device)
  {
    if (mg_context_set_threads(m_Engine->ctx, m_NumberOfThreads) != MG_OK)
      this->ThrowEngineError(mg_context_error(m_Engine->ctx));
    return;
  }
  m_Engine.reset();
  const mg_device device = medgen_detail::ResolveDevice(m_Device); // before reading: an unusable device fails fast
  auto engine = std::make_shared<Engine>();
  engine->file = m_ModelFileName;
  engine->ema = m_UseEMAWeights;
  engine->device = m_Device;
  char err[1024] = "";
  if (mg_checkpoint_load(m_ModelFileName.c_str(), &engine->ckpt, err, sizeof err) != MG_OK)
    this->ThrowEngineError(err);
  mg_context_options options{ device, m_NumberOfThreads, 0 };
  if (mg_context_create(&options, &engine->ctx, err, sizeof err) != MG_OK)
    this->ThrowEngineError(err);
  const char *type = mg_checkpoint_model_type(engine->ckpt);
  const std::string modelType = type ? type : "";
  const mg_weights weights = m_UseEMAWeights ? MG_WEIGHTS_EMA : MG_WEIGHTS_RAW;
  if (modelType == "ddpm")
  {
    if (mg_ddpm_load(engine->ctx, engine->ckpt, weights, &engine->ddpm) != MG_OK)
      this->ThrowEngineError(mg_context_error(engine->ctx));
    engine->size = mg_ddpm_get_config(engine->ddpm)->unet.image_size;
    engine->channels = mg_ddpm_get_config(engine->ddpm)->unet.in_channels;
  }
  else if (modelType == "gan")
  {
    if (mg_gan_load(engine->ctx, engine->ckpt, weights, &engine->gan) != MG_OK)
      this->ThrowEngineError(mg_context_error(engine->ctx));
    engine->size = mg_gan_get_config(engine->gan)->image_size;
    engine->channels = mg_gan_get_config(engine->gan)->channels;
  }
  else
    this->ThrowEngineError("model type \"" + modelType + "\" cannot generate images (need \"ddpm\" or \"gan\")");
  if (engine->channels != 1)
    this->ThrowEngineError("the model makes " + std::to_string(engine->channels) +
                           "-channel images; MedGenImageSource makes scalar images");
  char fingerprint[32];
  if (mg_itk_fingerprint(m_ModelFileName.c_str(), fingerprint, sizeof fingerprint, err, sizeof err) != MG_OK)
    this->ThrowEngineError(err);
  engine->fingerprint = fingerprint;
  m_Engine = engine;
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::GenerateOutputInformation()
{
  this->LoadModel();
  TOutputImage *output = this->GetOutput();
  typename TOutputImage::SizeType size;
  size[0] = static_cast<SizeValueType>(m_Engine->size);
  size[1] = static_cast<SizeValueType>(m_Engine->size);
  if (ImageDimension == 3)
    size[ImageDimension - 1] = m_NumberOfSamples;
  typename TOutputImage::IndexType start;
  start.Fill(0);
  output->SetLargestPossibleRegion(typename TOutputImage::RegionType(start, size));
  if (m_ReferenceImage)
  {
    output->SetSpacing(m_ReferenceImage->GetSpacing());
    output->SetOrigin(m_ReferenceImage->GetOrigin());
    output->SetDirection(m_ReferenceImage->GetDirection());
  }
  else
  {
    output->SetSpacing(m_Spacing);
    output->SetOrigin(m_Origin);
    output->SetDirection(m_Direction);
  }
  this->ResolveClassAndSampler();
  // The marks go on with the geometry, so that a writer downstream (which copies the dictionary before it updates
  // its input) stores them.
  this->FillMetaData(output->GetMetaDataDictionary());
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::ResolveClassAndSampler()
{
  const bool isGan = m_Engine->gan != nullptr;
  if (!isGan && mg_sampler_from_name(m_Sampler.c_str()) < 0)
    this->ThrowEngineError("unknown sampler \"" + m_Sampler + "\" (ddpm, ddim, dpm++2m)");
  // Class: a name the model knows or a decimal index; empty means none.
  m_ClassIndex = -1;
  if (m_ClassName.empty())
    return;
  const int numClasses = isGan ? mg_gan_num_classes(m_Engine->gan) : mg_ddpm_num_classes(m_Engine->ddpm);
  int index = isGan ? mg_gan_class_index(m_Engine->gan, m_ClassName.c_str())
                    : mg_ddpm_class_index(m_Engine->ddpm, m_ClassName.c_str());
  if (index < 0 && m_ClassName.find_first_not_of("0123456789") == std::string::npos && m_ClassName.size() < 9)
    index = std::stoi(m_ClassName);
  if (numClasses == 0)
    this->ThrowEngineError("the model is unconditional; class \"" + m_ClassName + "\" cannot be asked for");
  if (index < 0 || index >= numClasses)
    this->ThrowEngineError("no class \"" + m_ClassName + "\" (the model has " + std::to_string(numClasses) +
                           " classes)");
  m_ClassIndex = index;
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::FillMetaData(MetaDataDictionary &dict) const
{
  const bool isGan = m_Engine->gan != nullptr;
  const auto number = [](double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  };
  const std::string sampler =
    isGan ? "gan" : mg_sampler_name(static_cast<mg_sampler>(mg_sampler_from_name(m_Sampler.c_str())));
  EncapsulateMetaData<std::string>(dict, "MedGen", "synthetic");
  EncapsulateMetaData<std::string>(dict, "MedGen_Model", m_ModelFileName);
  EncapsulateMetaData<std::string>(dict, "MedGen_ModelFingerprint", m_Engine->fingerprint);
  EncapsulateMetaData<std::string>(dict, "MedGen_ModelType", isGan ? "gan" : "ddpm");
  EncapsulateMetaData<std::string>(dict, "MedGen_Sampler", sampler);
  EncapsulateMetaData<std::string>(dict, "MedGen_Steps", isGan ? "1" : std::to_string(m_NumberOfSteps));
  EncapsulateMetaData<std::string>(dict, "MedGen_Seed", std::to_string(m_Seed));
  EncapsulateMetaData<std::string>(dict, "MedGen_Class", m_ClassIndex >= 0 ? std::to_string(m_ClassIndex) : "none");
  EncapsulateMetaData<std::string>(dict, "MedGen_Guidance", number(m_Guidance));
  EncapsulateMetaData<std::string>(dict, "MedGen_Truncation", number(m_Truncation));
  EncapsulateMetaData<std::string>(dict, "MedGen_Weights", m_UseEMAWeights ? "ema" : "raw");
  // NIfTI: ITK 5.2's writer stores no key-value fields and never writes descrip; it does write "aux_file" (at most
  // 23 characters): the marker and the fingerprint fit exactly.
  EncapsulateMetaData<std::string>(dict, "aux_file", "MedGen:" + m_Engine->fingerprint.substr(8));
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::EnlargeOutputRequestedRegion(DataObject *output)
{
  // One engine call makes the whole image.
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::GenerateData()
{
  this->LoadModel();
  this->AllocateOutputs();
  TOutputImage *output = this->GetOutput();
  const int n = ImageDimension == 3 ? static_cast<int>(m_NumberOfSamples) : 1;
  const int s = m_Engine->size;
  const bool isGan = m_Engine->gan != nullptr;
  const std::vector<int32_t> labels(m_ClassIndex >= 0 ? n : 0, m_ClassIndex);

  std::vector<float> pixels(static_cast<size_t>(n) * s * s);
  medgen_detail::ProgressBridge bridge{ this, nullptr };
  mg_status status;
  if (isGan)
  {
    mg_gan_sample_options options = mg_gan_default_sample_options();
    options.seed = m_Seed;
    options.truncation = m_Truncation;
    status = mg_gan_sample(m_Engine->gan, &options, n, labels.empty() ? nullptr : labels.data(), pixels.data(),
                           medgen_detail::OnEngineProgress, &bridge);
  }
  else
  {
    mg_ddpm_sample_options options = mg_ddpm_default_sample_options();
    options.sampler = static_cast<mg_sampler>(mg_sampler_from_name(m_Sampler.c_str())); // checked in GOI
    options.steps = static_cast<int>(m_NumberOfSteps);
    options.guidance = m_Guidance;
    options.seed = m_Seed;
    status = mg_ddpm_sample(m_Engine->ddpm, &options, n, labels.empty() ? nullptr : labels.data(), pixels.data(),
                            medgen_detail::OnEngineProgress, &bridge);
  }
  if (bridge.error)
    std::rethrow_exception(bridge.error);
  if (status == MG_ERR_CANCELLED || this->GetAbortGenerateData())
  {
    ProcessAborted e(__FILE__, __LINE__);
    e.SetLocation(ITK_LOCATION);
    e.SetDescription("MedGenImageSource: sampling aborted by the user");
    throw e;
  }
  if (status != MG_OK)
    this->ThrowEngineError(mg_context_error(m_Engine->ctx));

  // Engine images are top row first, column fastest: the ITK layout of index (x, y[, sample]).
  ImageRegionIteratorWithIndex<TOutputImage> it(output, output->GetLargestPossibleRegion());
  for (it.GoToBegin(); !it.IsAtEnd(); ++it)
  {
    const auto &idx = it.GetIndex();
    const size_t sample = ImageDimension == 3 ? static_cast<size_t>(idx[ImageDimension - 1]) : 0;
    const size_t at = (sample * s + static_cast<size_t>(idx[1])) * s + static_cast<size_t>(idx[0]);
    it.Set(medgen_detail::ToPixel<PixelType>(pixels[at]));
  }

}

template <typename TOutputImage>
void
MedGenImageSource<TOutputImage>::PrintSelf(std::ostream &os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "ModelFileName: " << m_ModelFileName << std::endl;
  os << indent << "Sampler: " << m_Sampler << std::endl;
  os << indent << "NumberOfSteps: " << m_NumberOfSteps << std::endl;
  os << indent << "Seed: " << m_Seed << std::endl;
  os << indent << "ClassName: " << m_ClassName << std::endl;
  os << indent << "Guidance: " << m_Guidance << std::endl;
  os << indent << "NumberOfSamples: " << m_NumberOfSamples << std::endl;
  os << indent << "UseEMAWeights: " << (m_UseEMAWeights ? "On" : "Off") << std::endl;
  os << indent << "NumberOfThreads: " << m_NumberOfThreads << std::endl;
  os << indent << "Device: " << m_Device << std::endl;
  os << indent << "Truncation: " << m_Truncation << std::endl;
  os << indent << "Spacing: " << m_Spacing << std::endl;
  os << indent << "Origin: " << m_Origin << std::endl;
  os << indent << "Direction: " << m_Direction << std::endl;
  os << indent << "ReferenceImage: " << m_ReferenceImage.GetPointer() << std::endl;
}

} // namespace itk

#endif
