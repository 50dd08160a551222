// MedGenSample: the Slicer CLI module that draws synthetic images from a MedGen checkpoint (itk::MedGenImageSource)
// into a volume of numberOfSamples slices, in the units and pixel type of the data the model learned from (the
// checkpoint's note run.pixel_type; float when absent). Geometry: the reference volume's spacing, origin and
// direction when one is given; else in-plane spacing run.mm_per_pixel (the size of a training slice's pixel), 1
// between slices, origin 0 and identity direction.
//
// The volume is marked synthetic by the source's metadata (MedGen=synthetic, the model's fingerprint, sampler, steps,
// seed, class; only NRRD and MetaImage are written: they keep every key), and written under a temporary name that is
// renamed when complete: a failure or a kill leaves no partial volume under the output name.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkMedGenImageSource.h"
#include "itksys/SystemTools.hxx"
#include "medgen.h"
#include "medgenCLI.h"
#include "medgenStagedOutput.h"
#include "medgenPixelType.h"

namespace
{
using namespace medgen::cli;

Parameter
ModelParameter()
{
  Parameter p = PathParameter(ParameterType::File, "model", "Model",
                              "A MedGen checkpoint (.safetensors) written by MedGen Train.", Channel::Input, true);
  p.fileExtensions = ".safetensors";
  return p;
}

Description
SampleDescription()
{
  Description d = MedGenDescription(
    "MedGenSample", "MedGen Sample",
    "Draws synthetic images from a model trained by MedGen Train (a diffusion model or a GAN) into a volume: one "
    "slice per sample, in the intensity units and pixel type of the training volumes.");
  d.groups.push_back(
    { "Input and output",
      "The model, the synthetic volume, and a volume whose geometry it takes.",
      false,
      { ModelParameter(),
        PathParameter(ParameterType::Image, "outputVolume", "Synthetic volume",
                      "The synthetic images, one per slice, marked synthetic in the volume's metadata.",
                      Channel::Output, true),
        PathParameter(ParameterType::Image, "referenceVolume", "Reference volume",
                      "Optional: the output takes this volume's spacing, origin and direction (its size and voxels "
                      "are not used). Without it, pixels have the training slices' size in mm.",
                      Channel::Input, false) } });
  d.groups.push_back(
    { "Sampling",
      "How the images are drawn. The same model, seed and settings give the same images.",
      false,
      { EnumerationParameter("sampler", "Sampler",
                             "Diffusion models: DDIM, DPM-Solver++(2M) (good in 10-20 steps) or the full DDPM chain. "
                             "GANs ignore it.",
                             { "ddim", "dpm++2m", "ddpm" }),
        IntegerParameter("steps", "Steps", "Reverse diffusion steps for DDIM and DPM-Solver++ (DDPM takes all).", 50, 1,
                         1000),
        IntegerParameter("numberOfSamples", "Number of samples", "Synthetic images, one per slice.", 16, 1, 10000),
        IntegerParameter("seed", "Seed", "Random seed: image i depends only on the seed and i.", 1, 0, 2147483647),
        StringParameter("className", "Class",
                        "For a class-conditional model: a class name the model knows (e.g. \"label 2\" for a label "
                        "map's value 2) or its index. Empty: no class."),
        DoubleParameter("guidance", "Guidance",
                        "Classifier-free guidance scale for class-conditional diffusion models: 0 unconditional, 1 "
                        "plain conditional, above 1 stronger.",
                        1.0, 0.0, 20.0, 0.1),
        DoubleParameter("truncation", "Truncation",
                        "GANs: latent components beyond +-truncation are redrawn (smaller: more typical, less "
                        "varied images); 0 turns it off.",
                        0.0, 0.0, 10.0, 0.1) } });
  d.groups.push_back({ "Device",
                       "Where the model runs.",
                       true,
                       { EnumerationParameter("device", "Device",
                                              "auto: the CUDA GPU when this build of MedGen has the CUDA backend and "
                                              "the machine a usable GPU, else the CPU (a build with the backend says "
                                              "why in a warning). cuda: fails, with the reason, when no GPU can be "
                                              "used.",
                                              { "auto", "cpu", "cuda" }),
                         IntegerParameter("threads", "CPU threads", "0: all cores. Results do not depend on it.", 0,
                                          0, 1024) } });
  return d;
}

// What the checkpoint says about the data it learned from.
struct ModelNotes
{
  std::string pixelType{ "float" };
  double mmPerPixel{ 0.0 };
};

ModelNotes
ReadNotes(const std::string &path)
{
  mg_checkpoint *ckpt = nullptr;
  char err[1024] = "";
  if (mg_checkpoint_load(path.c_str(), &ckpt, err, sizeof err) != MG_OK)
    throw std::runtime_error(err);
  ModelNotes notes;
  if (const char *type = mg_checkpoint_metadata(ckpt, "run.pixel_type"))
    notes.pixelType = type;
  if (const char *mm = mg_checkpoint_metadata(ckpt, "run.mm_per_pixel"))
    notes.mmPerPixel = std::atof(mm);
  mg_checkpoint_free(ckpt);
  return notes;
}

template <typename TPixel>
void
Sample(const Arguments &args, const ModelNotes &notes, ProgressPrinter &progress)
{
  using ImageType = itk::Image<TPixel, 3>;
  medgen::StagedOutput output(args.String("outputVolume"));
  auto source = itk::MedGenImageSource<ImageType>::New();
  source->SetModelFileName(args.String("model"));
  source->SetSampler(args.String("sampler"));
  source->SetNumberOfSteps(static_cast<unsigned int>(args.Integer("steps")));
  source->SetNumberOfSamples(static_cast<unsigned int>(args.Integer("numberOfSamples")));
  source->SetSeed(static_cast<uint64_t>(args.Integer("seed")));
  source->SetClassName(args.String("className"));
  source->SetGuidance(args.Double("guidance"));
  source->SetTruncation(args.Double("truncation"));
  source->SetNumberOfThreads(static_cast<int>(args.Integer("threads")));
  source->SetDevice(args.String("device"));

  using ReferenceReaderType = itk::ImageFileReader<itk::Image<float, 3>>;
  auto reference = ReferenceReaderType::New();
  if (!args.String("referenceVolume").empty())
  {
    reference->SetFileName(args.String("referenceVolume"));
    try
    {
      reference->UpdateOutputInformation(); // the geometry only: no voxels are read
    }
    catch (const itk::ExceptionObject &e)
    {
      throw std::runtime_error("reference volume " + args.String("referenceVolume") + ": " + e.GetDescription());
    }
    source->SetReferenceImage(reference->GetOutput());
  }
  else if (notes.mmPerPixel > 0)
  {
    typename ImageType::SpacingType spacing;
    spacing[0] = spacing[1] = notes.mmPerPixel;
    spacing[2] = 1.0;
    source->SetSpacing(spacing);
  }

  progress.Watch(source);
  auto writer = itk::ImageFileWriter<ImageType>::New();
  writer->SetInput(source->GetOutput());
  writer->SetFileName(output.StagedPath());
  writer->UseCompressionOn();
  writer->Update();
  output.Publish();
}

void
Run(const Arguments &args)
{
  // Only NRRD and MetaImage keep the synthetic marks as key-value fields: ITK 5.2's writers for NIfTI (no descrip),
  // DICOM, VTK, TIFF and PNG would drop them.
  const std::string out = itksys::SystemTools::LowerCase(args.String("outputVolume"));
  if (!itksys::SystemTools::StringEndsWith(out, ".nrrd") && !itksys::SystemTools::StringEndsWith(out, ".mha"))
    throw std::runtime_error(args.String("outputVolume") + ": write .nrrd or .mha, the formats that keep the "
                             "synthetic description (model, sampler, seed); `medgen sample` also writes NIfTI and "
                             "DICOM with it");
  ProgressPrinter progress;
  progress.Start("MedGenSample", "drawing " + args.String("numberOfSamples") + " synthetic images from " +
                                   args.String("model"));
  const ModelNotes notes = ReadNotes(args.String("model"));
  progress.Comment("pixel type " + notes.pixelType + " (the training volumes')");
  const std::string &type = notes.pixelType;
  if (!medgen::ForPixelType(type, [&](auto zero) { Sample<decltype(zero)>(args, notes, progress); }))
  {
    progress.Comment("no " + type + " volumes here: writing float");
    Sample<float>(args, notes, progress);
  }
  progress.Progress(1.0);
  progress.Comment("wrote " + args.String("outputVolume"));
  progress.End();
}

} // namespace

int
main(int argc, char *argv[])
{
  return Main(SampleDescription(), argc, argv, Run);
}
