// vtkSlicerMedGenLogic: MedGen's Slicer module logic, thin MRML glue over vtkMedGenLogic (Logic/VTK), which does the
// work without Slicer (training input, training and sampling jobs run out of process, synthetic volumes). Here:
//   - volume nodes in: a node's voxels and its IJK-to-RAS matrix (with a linear parent transform applied) become a
//     training volume; the logic remembers which node each training volume came from;
//   - synthetic volume nodes out, on a training volume's grid, named and marked as synthetic;
//   - the folders the jobs use: the work folder under Slicer's temporary folder, the CLI modules found relative to
//     the module library (the extension layout puts lib/Slicer-X.Y/qt-loadable-modules next to
//     lib/Slicer-X.Y/cli-modules).
// No Qt here. Errors: functions return false (or null) and GetErrorText() says why.
#ifndef vtkSlicerMedGenLogic_h
#define vtkSlicerMedGenLogic_h

#include <string>
#include <vector>

#include "vtkSlicerModuleLogic.h"
#include "vtkSmartPointer.h"

#include "vtkSlicerMedGenModuleLogicExport.h"

class vtkImageData;
class vtkMatrix4x4;
class vtkMedGenLogic;
class vtkMRMLLabelMapVolumeNode;
class vtkMRMLScalarVolumeNode;

class VTK_SLICER_MEDGEN_MODULE_LOGIC_EXPORT vtkSlicerMedGenLogic : public vtkSlicerModuleLogic
{
public:
  static vtkSlicerMedGenLogic *New();
  vtkTypeMacro(vtkSlicerMedGenLogic, vtkSlicerModuleLogic);
  void PrintSelf(ostream &os, vtkIndent indent) override;

  // The Slicer-free logic the module's widgets (training panel, preview grid) work on.
  vtkMedGenLogic *GetMedGenLogic() const;
  const std::string &GetErrorText() const { return this->ErrorText; }

  // ---- Folders ----
  // The CLI module folder for a loadable module library at moduleLibraryPath: <lib>/qt-loadable-modules[/<intDir>]
  // -> <lib>/cli-modules[/<intDir>] (intDir: the build configuration folder of multi-configuration builds, "" else).
  static std::string CLIDirectoryForModuleLibrary(const std::string &moduleLibraryPath, const std::string &intDir);
  // Points the jobs at the CLI modules beside moduleLibraryPath and at the work folder <Slicer temporary folder>/MedGen
  // (Start trains a new model there; Resume continues the last one). Called by the module's setup().
  void ConfigureDirectories(const std::string &moduleLibraryPath, const std::string &intDir);

  // ---- Training input ----
  // Adds node's volume as the next training volume (up to three). false with ErrorText when the node has no voxels,
  // several components, a non-linear parent transform (harden it first) or vtkMedGenLogic refuses it.
  bool AddTrainingVolumeNode(vtkMRMLScalarVolumeNode *node);
  // Optional, with a single training volume: the label map giving each slice's class.
  bool SetTrainingLabelMapNode(vtkMRMLLabelMapVolumeNode *node);
  void ClearTrainingInput();
  int GetNumberOfTrainingVolumeNodes() const;
  // The node training volume index came from; null when it left the scene.
  vtkMRMLScalarVolumeNode *GetTrainingVolumeNode(int index);

  // ---- Synthetic volumes ----
  // Adds to the scene a scalar volume node holding the images picks (empty: all) of slices (size x size x n, as the
  // preview grid shows them) on the grid of training volume sourceNode (null: the first training volume), made by
  // vtkMedGenLogic::MakeSyntheticVolume. origin says where the images came from ("seed 7", "training preview") and
  // goes into the name "<source name> synthetic (MedGen <origin>)". The node is marked synthetic: attributes
  // MedGen.Synthetic = "true", MedGen.Origin, MedGen.Model, and a description saying it is not patient data. It gets
  // default display nodes. Returns null with ErrorText when sourceNode is not a training volume or the images do not
  // fit it.
  vtkMRMLScalarVolumeNode *AddSyntheticVolumeNode(vtkImageData *slices, const std::vector<int> &picks,
                                                  vtkMRMLScalarVolumeNode *sourceNode, const std::string &origin);

protected:
  vtkSlicerMedGenLogic();
  ~vtkSlicerMedGenLogic() override;
  // Observes the scene's EndCloseEvent: node IDs are reused after a close, so the training input is forgotten then
  // (a running job goes on with the files it was given).
  void SetMRMLSceneInternal(vtkMRMLScene *newScene) override;
  void OnMRMLSceneEndClose() override;

private:
  vtkSlicerMedGenLogic(const vtkSlicerMedGenLogic &) = delete;
  void operator=(const vtkSlicerMedGenLogic &) = delete;
  // The IJK-to-RAS matrix of node in world coordinates; false with ErrorText for a non-linear parent transform.
  bool GetWorldIJKToRAS(vtkMRMLScalarVolumeNode *node, vtkMatrix4x4 *ijkToRAS);

  vtkSmartPointer<vtkMedGenLogic> MedGenLogic;
  std::vector<std::string> TrainingNodeIDs; // node ID of each training volume, in vtkMedGenLogic's order
  std::string ErrorText;
};

#endif
