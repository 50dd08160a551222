// Volumes as VTK and Slicer hold them: voxels in a vtkImageData plus an IJK-to-RAS matrix (Slicer's convention: the
// image data's own origin and spacing are ignored and set to 0 and 1; the matrix carries origin, spacing and
// direction). Files are read and written through ITK (patient space LPS), so every format the ITK layer knows works
// and the geometry survives the round trip exactly (RAS = diag(-1, -1, 1) * LPS).
//
// Synthetic slices back into patient space: a model learns size x size slices cut from a source volume by
// medgen::SliceSet (medgenVolumeSlices.h: which array axis is cut, which ways rows and columns run, the centred fit
// of the slice's extent). SyntheticVolume inverts that fit, so a synthetic volume lies on the source's own grid: the
// same IJK-to-RAS matrix (origin, spacing, direction), the same size except along the cut axis, where it has one
// slice per synthetic image, values in the source's units and scalar type.
//
// Errors: functions return false and set error to "<file or name>: <problem>". Nothing here throws or exits.
#ifndef medgenVtkVolumes_h
#define medgenVtkVolumes_h

#include <map>
#include <string>
#include <vector>

class vtkImageData;
class vtkMatrix4x4;

namespace medgen
{

// Writes one-component image (any VTK scalar type ITK writes) with geometry ijkToRAS to path (.nrrd, .nhdr, .mha,
// .nii, .nii.gz, ...) under a temporary name renamed at the end; metadata entries become key-value fields where the
// format keeps them.
bool WriteVolume(vtkImageData *image, vtkMatrix4x4 *ijkToRAS, const std::string &path, std::string &error,
                 const std::map<std::string, std::string> &metadata = {});

// Reads a 2D or 3D one-component volume: voxels into image (scalar type of the file; origin 0, spacing 1),
// geometry into ijkToRAS, the file's key-value fields into metadata (may be null).
bool ReadVolume(const std::string &path, vtkImageData *image, vtkMatrix4x4 *ijkToRAS, std::string &error,
                std::map<std::string, std::string> *metadata = nullptr);

// slices: size x size x count synthetic images (as MedGenSample and the training preview write them: image k is
// z index k, row 0 first), in the source's units. picks: the images to use (empty: all), in order. source and
// sourceIJKToRAS: the volume the model was trained on; axis: "axial", "coronal" or "sagittal", as in training.
// out gets the source's scalar type (values rounded and clamped for integer types) and size, except picks.size()
// slices along the cut array axis; outIJKToRAS gets the source's matrix. Each voxel is the bilinear interpolation of
// its synthetic image at the voxel's position; near the border, where that would reach past the pixels that lie over
// the source (into the fit's padding, or beyond the image), it takes the nearest of those pixels' values.
bool SyntheticVolume(vtkImageData *slices, const std::vector<int> &picks, vtkImageData *source,
                     vtkMatrix4x4 *sourceIJKToRAS, const std::string &axis, vtkImageData *out,
                     vtkMatrix4x4 *outIJKToRAS, std::string &error);

} // namespace medgen

#endif
