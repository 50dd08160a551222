// itk::MedGenImageSource: an ITK image source that draws synthetic images from a MedGen checkpoint (a DDPM or a
// GAN) through the engine's public C API (medgen.h).
//
// Output: a 2D image (one sample) or a 3D stack of NumberOfSamples samples along the third axis, size x size
// pixels as the model was trained, any scalar pixel type. Values come in the data's original units and are
// clamped to the pixel type's range (rounded for integer types). Geometry comes from SetReferenceImage when set,
// else from SetSpacing/SetOrigin/SetDirection (default spacing 1, origin 0, identity).
//
// Every output is marked synthetic in its MetaDataDictionary so that a sample can be recognised and reproduced:
//   MedGen                   "synthetic"
//   MedGen_Model             the checkpoint's file name
//   MedGen_ModelFingerprint  "fnv1a64:<16 hex digits>" of the checkpoint file's bytes
//   MedGen_ModelType         "ddpm" or "gan"
//   MedGen_Sampler, MedGen_Steps, MedGen_Seed, MedGen_Class, MedGen_Guidance, MedGen_Truncation, MedGen_Weights
//   aux_file                 "MedGen:<16 hex digits of the fingerprint>": NIfTI's aux_file (23 characters), the only
//                            dictionary field ITK 5.2's NIfTI writer stores (it writes no descrip).
// Which keys survive a writer round trip is checked by itkMedGenImageSourceTest: NRRD (.nrrd) and MetaImage (.mha)
// keep every string key; NIfTI (.nii.gz) keeps aux_file only, so a NIfTI sample is marked and traceable to its
// checkpoint but its sampler, steps and seed are lost.
//
// Errors: any engine failure throws itk::MedGenError, whose description is the engine's message (naming the file).
// Progress: one ProgressEvent per diffusion step (DDPM) or per batch (GAN). AbortGenerateDataOn() during a run
// cancels it at the next step and the filter throws itk::ProcessAborted.
#ifndef itkMedGenImageSource_h
#define itkMedGenImageSource_h

#include <cstdint>
#include <memory>
#include <string>

#include "itkImageSource.h"
#include "itkMacro.h"

namespace itk
{

class MedGenError : public ExceptionObject
{
public:
  MedGenError(const char *file, unsigned int line, const std::string &description)
    : ExceptionObject(file, line, description, "itk::MedGenImageSource")
  {}
  itkTypeMacro(MedGenError, ExceptionObject);
};

template <typename TOutputImage>
class ITK_TEMPLATE_EXPORT MedGenImageSource : public ImageSource<TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(MedGenImageSource);

  using Self = MedGenImageSource;
  using Superclass = ImageSource<TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  using OutputImageType = TOutputImage;
  using PixelType = typename TOutputImage::PixelType;
  static constexpr unsigned int ImageDimension = TOutputImage::ImageDimension;
  static_assert(ImageDimension == 2 || ImageDimension == 3, "MedGenImageSource makes 2D images or 3D stacks");
  using SpacingType = typename TOutputImage::SpacingType;
  using PointType = typename TOutputImage::PointType;
  using DirectionType = typename TOutputImage::DirectionType;
  using ReferenceImageType = ImageBase<ImageDimension>;

  itkNewMacro(Self);
  itkTypeMacro(MedGenImageSource, ImageSource);

  itkSetStringMacro(ModelFileName);
  itkGetStringMacro(ModelFileName);
  // "ddpm", "ddim" or "dpm++2m" (DDPM models; GANs ignore it).
  itkSetStringMacro(Sampler);
  itkGetStringMacro(Sampler);
  // Reverse steps for DDIM and DPM-Solver++ (DDPM always takes the model's T).
  itkSetClampMacro(NumberOfSteps, unsigned int, 1, 100000);
  itkGetConstMacro(NumberOfSteps, unsigned int);
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  // A class name the model knows, or a class index in decimal; empty: no class (unconditional draw).
  itkSetStringMacro(ClassName);
  itkGetStringMacro(ClassName);
  // Classifier-free guidance scale (DDPM).
  itkSetMacro(Guidance, double);
  itkGetConstMacro(Guidance, double);
  // Slices of a 3D output; a 2D output is always one sample.
  itkSetClampMacro(NumberOfSamples, unsigned int, 1, 1000000);
  itkGetConstMacro(NumberOfSamples, unsigned int);
  itkSetMacro(UseEMAWeights, bool);
  itkGetConstMacro(UseEMAWeights, bool);
  itkBooleanMacro(UseEMAWeights);
  // Engine threads; 0: all cores.
  itkSetClampMacro(NumberOfThreads, int, 0, 4096);
  itkGetConstMacro(NumberOfThreads, int);
  // "auto" (default: the CUDA GPU when this build has the CUDA backend and the machine a usable GPU, else the CPU;
  // a build with the backend on a machine without a GPU says why in an ITK warning, once per process), "cpu", or
  // "cuda" (Update throws itk::MedGenError with the engine's reason when no GPU can be used). Another name throws.
  itkSetStringMacro(Device);
  itkGetStringMacro(Device);
  // BigGAN truncation of the GAN's latents (0: none).
  itkSetClampMacro(Truncation, double, 0.0, 1e6);
  itkGetConstMacro(Truncation, double);

  itkSetMacro(Spacing, SpacingType);
  itkGetConstReferenceMacro(Spacing, SpacingType);
  itkSetMacro(Origin, PointType);
  itkGetConstReferenceMacro(Origin, PointType);
  itkSetMacro(Direction, DirectionType);
  itkGetConstReferenceMacro(Direction, DirectionType);
  // Spacing, origin and direction from this image instead (its size and pixels are not used).
  itkSetConstObjectMacro(ReferenceImage, ReferenceImageType);
  itkGetConstObjectMacro(ReferenceImage, ReferenceImageType);

protected:
  MedGenImageSource();
  ~MedGenImageSource() override = default;
  void PrintSelf(std::ostream &os, Indent indent) const override;

  void GenerateOutputInformation() override;
  void EnlargeOutputRequestedRegion(DataObject *output) override;
  void GenerateData() override;

private:
  struct Engine; // context, checkpoint and model, kept between updates while the file and weights stay the same
  void LoadModel();
  void ResolveClassAndSampler();
  void FillMetaData(MetaDataDictionary &dict) const;
  [[noreturn]] void ThrowEngineError(const std::string &message) const;

  std::string m_ModelFileName;
  std::string m_Sampler{ "ddim" };
  unsigned int m_NumberOfSteps{ 50 };
  uint64_t m_Seed{ 1 };
  std::string m_ClassName;
  double m_Guidance{ 1.0 };
  unsigned int m_NumberOfSamples{ 1 };
  bool m_UseEMAWeights{ true };
  int m_NumberOfThreads{ 0 };
  std::string m_Device{ "auto" };
  double m_Truncation{ 0.0 };
  SpacingType m_Spacing;
  PointType m_Origin;
  DirectionType m_Direction;
  typename ReferenceImageType::ConstPointer m_ReferenceImage;

  std::shared_ptr<Engine> m_Engine;
  int m_ClassIndex{ -1 }; // resolved from m_ClassName when the output information is generated
};

} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMedGenImageSource.hxx"
#endif

#endif
