// Training slices from volumes: reads any volume ITK 5.2 reads (NIfTI, NRRD, MetaImage, a DICOM series
// directory), cuts it into 2D slices along a patient axis, skips background-only slices, resamples each slice to
// size x size keeping the physical aspect ratio, and normalizes intensities over all slices together into the
// engine's mg_dataset.
//
// Orientation convention (patient space LPS, as ITK stores it; slices are displayed radiologically):
//   axial:    columns run patient right -> left (+L), rows anterior -> posterior (+P); slices inferior -> superior.
//   coronal:  columns run right -> left (+L), rows superior -> inferior (-S); slices anterior -> posterior.
//   sagittal: columns run anterior -> posterior (+P), rows superior -> inferior (-S); slices right -> left.
// Each patient axis is matched to the array axis whose direction cosine is closest to it (the permutation that
// maximizes the summed |cosine|), and an array axis pointing the other way is read backwards, so a volume stored
// with permuted or flipped axes gives the same slices. An oblique volume is cut along its nearest array axis (no
// oblique reslicing).
//
// Resampling: each slice's physical extent (voxel count x spacing) is fitted, centred, into size x size pixels of
// max(extent) / size mm; the short side is padded with the background value (see SliceOptions), never stretched.
// Values come from bilinear interpolation of the slice's voxels (no smoothing before downsampling).
//
// Errors: every refusal throws medgen::VolumeError (an itk::ExceptionObject) whose description starts with the
// file name and says what is wrong. Nothing here exits.
#ifndef medgenVolumeSlices_h
#define medgenVolumeSlices_h

#include <cstdint>
#include <string>
#include <vector>

#include "itkImage.h"
#include "itkImageIOBase.h"
#include "itkMacro.h"
#include "medgen.h"

namespace medgen
{

class VolumeError : public itk::ExceptionObject
{
public:
  VolumeError(const char *file, unsigned int line, const std::string &description)
    : itk::ExceptionObject(file, line, description, "medgen::SliceSet")
  {}
  itkTypeMacro(VolumeError, itk::ExceptionObject);
};

enum class SliceAxis
{
  Axial,
  Coronal,
  Sagittal
};

enum class Normalization
{
  Percentiles, // [low_percentile, high_percentile] of all kept slices' in-field pixels -> [-1, 1]
  Window       // [window_low, window_high] (e.g. CT -1000..1000 HU) -> [-1, 1]
};

struct SliceOptions
{
  SliceAxis axis = SliceAxis::Axial;
  int size = 64; // output slices are size x size
  // Background rule, per volume: threshold = P(background_percentile) + background_fraction * (P(99) -
  // P(background_percentile)) over the volume's voxels; a slice is kept when at least min_foreground of its voxels
  // lie above the threshold. The padding value is P(background_percentile).
  double background_percentile = 1.0;
  double background_fraction = 0.1;
  double min_foreground = 0.05;
  Normalization normalization = Normalization::Percentiles;
  double low_percentile = 0.5, high_percentile = 99.5;
  double window_low = -1000.0, window_high = 1000.0;
  // Label maps: a label value gives a slice its class when it covers at least this many of the slice's voxels.
  int label_min_voxels = 10;
};

// Where a slice came from: the file (or the name given to AddImage), the index along the array axis that was cut,
// its class (-1: unlabelled) and the physical size of one output pixel (mm; the volume's slice extent / size).
struct SliceSource
{
  std::string file;
  int slice_index;
  int label;
  double mm_per_pixel;
};

using VolumeType = itk::Image<float, 3>;

// The geometry of a volume's cut, the one place it is worked out (SliceSet cuts with it, medgen::SyntheticVolume in
// Logic/VTK maps synthetic slices back with it): which array axes give a slice's columns (u), rows (v) and normal
// (n), whether each runs against the convention above (then it is read backwards), the voxel counts and in-plane
// spacings, and the centred fit of the slice's extent into size x size pixels of mm_per_pixel mm. Column u, row v and
// slice n count in the convention's order (u = 0 the patient-right column of an axial slice, n = 0 its most inferior
// slice); Array* turns them into array indices.
struct SliceFrame
{
  int axis_u, axis_v, axis_n;
  bool flip_u, flip_v, flip_n;
  int nu, nv, nn;
  double su, sv; // mm
  int size;
  double mm_per_pixel; // max(nu * su, nv * sv) / size

  int ArrayU(int u) const { return flip_u ? nu - 1 - u : u; }
  int ArrayV(int v) const { return flip_v ? nv - 1 - v : v; }
  int ArrayN(int n) const { return flip_n ? nn - 1 - n : n; }
  // The voxel column (fractional) under the centre of pixel column c, and the voxel row under pixel row r.
  double VoxelU(int c) const { return 0.5 * (nu - 1) + (c + 0.5 - 0.5 * size) * mm_per_pixel / su; }
  double VoxelV(int r) const { return 0.5 * (nv - 1) + (r + 0.5 - 0.5 * size) * mm_per_pixel / sv; }
  // The inverses: the pixel column (fractional) whose centre lies over voxel column u, the pixel row over row v.
  double PixelColumn(double u) const { return (u - 0.5 * (nu - 1)) * su / mm_per_pixel + 0.5 * size - 0.5; }
  double PixelRow(double v) const { return (v - 0.5 * (nv - 1)) * sv / mm_per_pixel + 0.5 * size - 0.5; }
  // Whether the voxel position (u, v) lies on the slice (within half a voxel of its voxels); pixels whose centre
  // does not are padding.
  bool InField(double u, double v) const { return u >= -0.5 && u <= nu - 0.5 && v >= -0.5 && v <= nv - 0.5; }
};

// The cut along axis of a volume with direction (LPS, as ITK stores it), size voxels of spacing mm, into outputSize x
// outputSize slices.
SliceFrame SliceFrameOf(const VolumeType::DirectionType &direction, const VolumeType::SizeType &size,
                        const VolumeType::SpacingType &spacing, SliceAxis axis, int outputSize);

// Throws VolumeError naming name when the image io has read the header of is 4D (or more) or has several components
// per voxel: ITK's readers would silently keep a 4D file's first volume and turn colour into grey.
void CheckSingleChannel(const std::string &name, const itk::ImageIOBase &io);

// Throws VolumeError naming path when a NIfTI file (.nii, .nii.gz) ends before its last voxel or its gzip stream is
// cut or corrupt: ITK 5.2 reads such files without a word (garbage for the missing part). Other formats: nothing.
void CheckComplete(const std::string &path);

// Accumulates slices from volumes. Dataset() normalizes all slices together and returns a view whose pointers
// stay valid until the next AddVolume/AddImage or Dataset call or the set's destruction.
//
// Classes: every volume added is either unlabelled (className "" and no label map), or names its class
// (className), or comes with a label map (className ""), whose voxels give each slice's class: the highest non-zero
// label value covering at least SliceOptions::label_min_voxels voxels of the slice (counted on the slice's voxels
// before resampling), or "background" (label value 0) when none does; label v is named "label <v>". Named classes
// are numbered in order of first appearance; label-map classes in increasing label value over every volume added so
// far (each slice keeps its raw label value, and adding a volume renumbers the slices before it). Mixing the three
// kinds in one set is refused (at the Add call that would mix them). A label map must have the volume's size,
// spacing, origin and direction (within 1e-4 of the spacing) and only integer voxels in [0, MG_MAX_CLASSES).
class SliceSet
{
public:
  explicit SliceSet(const SliceOptions &options);

  // Reads path (a file or a DICOM series directory: its first series) and, when labelMapPath is not empty, the
  // label map aligned with it, and appends the volume's foreground slices. Returns the number of slices kept.
  // Throws VolumeError naming the file on 4D or multi-component images, empty or constant volumes, NaN or infinite
  // voxels, unreadable files, and label maps whose size or geometry differ from the volume's or whose voxels are
  // not non-negative integers below MG_MAX_CLASSES.
  int AddVolume(const std::string &path, const std::string &className = "", const std::string &labelMapPath = "");
  // The same for a volume already in memory: name stands for it in messages and in Source(); pixelType is the
  // component type its values came from (ITK's name, e.g. "short"), reported by PixelType(); labelMapName stands
  // for the label map in messages ("<name>'s label map" when empty).
  int AddImage(const VolumeType *volume, const std::string &name, const std::string &pixelType,
               const std::string &className = "", const VolumeType *labelMap = nullptr,
               const std::string &labelMapName = "");

  // Throws VolumeError when no slice was kept or the intensities have no spread.
  const mg_dataset &Dataset();

  int Count() const { return static_cast<int>(m_Sources.size()); }
  const SliceSource &Source(int i) const { return m_Sources[i]; }
  // The class names so far (empty for an unlabelled set), indexed by label.
  const std::vector<std::string> &ClassNames() const { return m_ClassNames; }
  // The component type shared by every volume added (e.g. "short", "unsigned char", "float"), "float" when they
  // differ, "" before the first volume.
  const std::string &PixelType() const { return m_PixelType; }
  // Slice i before normalization, in the volume's units (size * size values, top row first).
  const float *RawSlice(int i) const { return m_Raw.data() + Offset(i); }
  // Non-zero where slice i's pixel lies inside the volume (zero: padding).
  const uint8_t *InField(int i) const { return m_InField.data() + Offset(i); }

  // Linear-interpolated percentile (numpy's default) of values; p in [0, 100]. Reorders values.
  static double Percentile(std::vector<float> &values, double p);

private:
  enum class Kind
  {
    Unknown, // no slice yet
    Unlabelled,
    Named,
    LabelMap
  };
  size_t Offset(int i) const { return static_cast<size_t>(i) * m_Options.size * m_Options.size; }
  // Label-map sets: class names and labels from the raw label values of every slice, in increasing value.
  void NumberLabelMapClasses();

  SliceOptions m_Options;
  std::vector<float> m_Raw;      // Count() * size * size, original units
  std::vector<uint8_t> m_InField;
  std::vector<float> m_Images;   // normalized
  std::vector<int32_t> m_Labels;
  std::vector<int32_t> m_LabelValues; // label-map sets: each slice's raw label value (0: background)
  Kind m_Kind = Kind::Unknown;
  std::vector<SliceSource> m_Sources;
  std::vector<std::string> m_ClassNames;
  std::vector<const char *> m_ClassNamePointers;
  std::string m_PixelType;
  mg_dataset m_Dataset{};
};

} // namespace medgen

#endif
