// Internal to the MedGen ITK filters (itkMedGenImageSource.hxx, itkMedGenTrainer.hxx): what they share to drive the
// engine's C API (medgen.h): its objects freed in order, progress into ITK events, the Device property resolved by
// the engine, pixel conversion. Include it after itkMedGenImageSource.h (for itk::MedGenError), as those .hxx files do.
#ifndef itkMedGenEngineBridge_h
#define itkMedGenEngineBridge_h

#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <string>

#include "itkMedGenImageSource.h"
#include "itkNumericTraits.h"
#include "itkProcessObject.h"
#include "medgen.h"

namespace itk
{
namespace medgen_detail
{
// A context, a checkpoint and a model, freed in the order the engine asks (models before their context).
struct EngineModel
{
  mg_ctx *ctx{ nullptr };
  mg_checkpoint *ckpt{ nullptr };
  mg_ddpm *ddpm{ nullptr };
  mg_gan *gan{ nullptr };
  EngineModel() = default;
  EngineModel(const EngineModel &) = delete;
  EngineModel &operator=(const EngineModel &) = delete;
  ~EngineModel()
  {
    if (ddpm)
      mg_ddpm_free(ddpm);
    if (gan)
      mg_gan_free(gan);
    if (ckpt)
      mg_checkpoint_free(ckpt);
    if (ctx)
      mg_context_free(ctx);
  }
};

// Carries progress from the engine's C callback to ITK observers. An observer's exception must not cross the
// C code: it is kept and rethrown once the engine has returned.
struct ProgressBridge
{
  ProcessObject *filter;
  std::exception_ptr error;
};

inline int
OnEngineProgress(void *user, const mg_progress *progress)
{
  auto *bridge = static_cast<ProgressBridge *>(user);
  try
  {
    if (progress->total > 0)
      bridge->filter->UpdateProgress(static_cast<float>(progress->step) / static_cast<float>(progress->total));
  }
  catch (...)
  {
    bridge->error = std::current_exception();
    return 1;
  }
  return bridge->filter->GetAbortGenerateData() ? 1 : 0;
}

// The device a Device property ("auto", "cpu" or "cuda") resolves to, as the engine decides (mg_device_resolve):
// auto is the CUDA GPU when the build has the CUDA backend and the machine a usable GPU, else the CPU. Throws
// MedGenError for another name, and for "cuda" when no GPU can be used, with the engine's reason. Under auto, a
// build with the CUDA backend on a machine without a usable GPU says why the CPU is used, once per process, as an
// ITK warning (the output window; Slicer's CLI modules: stderr).
inline mg_device
ResolveDevice(const std::string &device)
{
  const int requested = mg_device_from_name(device.c_str());
  if (requested < 0)
    throw MedGenError(__FILE__, __LINE__, "Device \"" + device + "\": must be auto, cpu or cuda");
  mg_device resolved = MG_DEVICE_CPU;
  char note[1024] = "";
  if (mg_device_resolve(static_cast<mg_device>(requested), &resolved, note, sizeof note) != MG_OK)
    throw MedGenError(__FILE__, __LINE__, note); // "device cuda cannot be used: <why>"
  static std::atomic<bool> noteShown{ false }; // one per process: an inline function's static is shared
  if (note[0] && !noteShown.exchange(true) && Object::GetGlobalWarningDisplay())
    OutputWindowDisplayWarningText(("MedGen: Device \"auto\": " + std::string(note) + "\n").c_str());
  return resolved;
}

// An engine value as a pixel: clamped to the pixel type's range, rounded for integer types, NaN as zero.
template <typename TPixel>
TPixel
ToPixel(double v)
{
  using Limits = std::numeric_limits<TPixel>;
  const double lo = static_cast<double>(NumericTraits<TPixel>::NonpositiveMin());
  const double hi = static_cast<double>(NumericTraits<TPixel>::max());
  if (Limits::is_integer)
    v = std::nearbyint(v);
  if (std::isnan(v))
    return TPixel{};
  return static_cast<TPixel>(v < lo ? lo : (v > hi ? hi : v));
}
} // namespace medgen_detail
} // namespace itk

#endif
