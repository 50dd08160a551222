// vtkSlicerMedGenLogic: volume nodes in and synthetic volume nodes out over vtkMedGenLogic; see the header.
#include "vtkSlicerMedGenLogic.h"

#include <vtkImageData.h>
#include <vtkIntArray.h>
#include <vtkMatrix4x4.h>
#include <vtkNew.h>
#include <vtkObjectFactory.h>
#include <vtksys/SystemTools.hxx>

#include <vtkMRMLLabelMapVolumeNode.h>
#include <vtkMRMLScalarVolumeNode.h>
#include <vtkMRMLScene.h>
#include <vtkMRMLTransformNode.h>

#include <vtkSlicerApplicationLogic.h>

#include "vtkMedGenLogic.h"

vtkStandardNewMacro(vtkSlicerMedGenLogic);

vtkSlicerMedGenLogic::vtkSlicerMedGenLogic()
  : MedGenLogic(vtkSmartPointer<vtkMedGenLogic>::New())
{
}

vtkSlicerMedGenLogic::~vtkSlicerMedGenLogic() = default; // vtkMedGenLogic cancels its running jobs

void vtkSlicerMedGenLogic::PrintSelf(ostream &os, vtkIndent indent)
{
  this->Superclass::PrintSelf(os, indent);
  os << indent << "TrainingNodeIDs:";
  for (const std::string &id : this->TrainingNodeIDs)
  {
    os << " " << id;
  }
  os << "\n" << indent << "ErrorText: " << this->ErrorText << "\n";
  os << indent << "MedGenLogic:\n";
  this->MedGenLogic->PrintSelf(os, indent.GetNextIndent());
}

vtkMedGenLogic *vtkSlicerMedGenLogic::GetMedGenLogic() const
{
  return this->MedGenLogic;
}

std::string vtkSlicerMedGenLogic::CLIDirectoryForModuleLibrary(const std::string &moduleLibraryPath,
                                                               const std::string &intDir)
{
  std::string moduleDir = vtksys::SystemTools::GetFilenamePath(moduleLibraryPath);
  const bool inConfigurationFolder =
    !intDir.empty() && vtksys::SystemTools::GetFilenameName(moduleDir) == intDir;
  if (inConfigurationFolder)
  {
    moduleDir = vtksys::SystemTools::GetFilenamePath(moduleDir);
  }
  std::string cliDir = vtksys::SystemTools::CollapseFullPath("../cli-modules", moduleDir);
  if (inConfigurationFolder)
  {
    cliDir += "/" + intDir;
  }
  return cliDir;
}

void vtkSlicerMedGenLogic::ConfigureDirectories(const std::string &moduleLibraryPath, const std::string &intDir)
{
  this->MedGenLogic->SetCLIDirectory(CLIDirectoryForModuleLibrary(moduleLibraryPath, intDir).c_str());
  vtkSlicerApplicationLogic *appLogic = this->GetApplicationLogic();
  const char *temporaryPath = appLogic ? appLogic->GetTemporaryPath() : nullptr;
  if (temporaryPath && *temporaryPath)
  {
    this->MedGenLogic->SetWorkDirectory((std::string(temporaryPath) + "/MedGen").c_str());
  }
}

bool vtkSlicerMedGenLogic::GetWorldIJKToRAS(vtkMRMLScalarVolumeNode *node, vtkMatrix4x4 *ijkToRAS)
{
  node->GetIJKToRASMatrix(ijkToRAS);
  vtkMRMLTransformNode *parent = node->GetParentTransformNode();
  if (!parent)
  {
    return true;
  }
  if (!parent->IsTransformToWorldLinear())
  {
    this->ErrorText = std::string(node->GetName()) +
                      ": the volume is under a non-linear transform; harden the transform before training on it";
    return false;
  }
  vtkNew<vtkMatrix4x4> toWorld;
  parent->GetMatrixTransformToWorld(toWorld);
  vtkMatrix4x4::Multiply4x4(toWorld, ijkToRAS, ijkToRAS);
  return true;
}

bool vtkSlicerMedGenLogic::AddTrainingVolumeNode(vtkMRMLScalarVolumeNode *node)
{
  if (!node || !node->GetImageData())
  {
    this->ErrorText = std::string(node ? node->GetName() : "training volume") + ": the volume holds no voxels";
    return false;
  }
  vtkNew<vtkMatrix4x4> ijkToRAS;
  if (!this->GetWorldIJKToRAS(node, ijkToRAS))
  {
    return false;
  }
  if (this->MedGenLogic->AddTrainingVolume(node->GetImageData(), ijkToRAS, node->GetName()) < 0)
  {
    this->ErrorText = this->MedGenLogic->GetErrorText();
    return false;
  }
  this->TrainingNodeIDs.push_back(node->GetID());
  return true;
}

bool vtkSlicerMedGenLogic::SetTrainingLabelMapNode(vtkMRMLLabelMapVolumeNode *node)
{
  if (!node || !node->GetImageData())
  {
    this->ErrorText = std::string(node ? node->GetName() : "label map") + ": the label map holds no voxels";
    return false;
  }
  vtkNew<vtkMatrix4x4> ijkToRAS;
  if (!this->GetWorldIJKToRAS(node, ijkToRAS))
  {
    return false;
  }
  if (!this->MedGenLogic->SetTrainingLabelMap(node->GetImageData(), ijkToRAS, node->GetName()))
  {
    this->ErrorText = this->MedGenLogic->GetErrorText();
    return false;
  }
  return true;
}

void vtkSlicerMedGenLogic::SetMRMLSceneInternal(vtkMRMLScene *newScene)
{
  vtkNew<vtkIntArray> events;
  events->InsertNextValue(vtkMRMLScene::EndCloseEvent);
  this->SetAndObserveMRMLSceneEventsInternal(newScene, events);
}

void vtkSlicerMedGenLogic::OnMRMLSceneEndClose()
{
  this->ClearTrainingInput();
}

void vtkSlicerMedGenLogic::ClearTrainingInput()
{
  this->MedGenLogic->ClearTrainingInput();
  this->TrainingNodeIDs.clear();
}

int vtkSlicerMedGenLogic::GetNumberOfTrainingVolumeNodes() const
{
  return static_cast<int>(this->TrainingNodeIDs.size());
}

vtkMRMLScalarVolumeNode *vtkSlicerMedGenLogic::GetTrainingVolumeNode(int index)
{
  if (index < 0 || index >= this->GetNumberOfTrainingVolumeNodes() || !this->GetMRMLScene())
  {
    return nullptr;
  }
  return vtkMRMLScalarVolumeNode::SafeDownCast(this->GetMRMLScene()->GetNodeByID(this->TrainingNodeIDs[index]));
}

vtkMRMLScalarVolumeNode *vtkSlicerMedGenLogic::AddSyntheticVolumeNode(vtkImageData *slices,
                                                                      const std::vector<int> &picks,
                                                                      vtkMRMLScalarVolumeNode *sourceNode,
                                                                      const std::string &origin)
{
  vtkMRMLScene *scene = this->GetMRMLScene();
  if (!scene || !slices)
  {
    this->ErrorText = "MedGen: no scene or no synthetic images to add";
    return nullptr;
  }
  int sourceIndex = 0;
  if (sourceNode)
  {
    sourceIndex = -1;
    for (int i = 0; i < this->GetNumberOfTrainingVolumeNodes(); ++i)
    {
      if (this->TrainingNodeIDs[i] == sourceNode->GetID())
      {
        sourceIndex = i;
      }
    }
  }
  vtkMRMLScalarVolumeNode *source = this->GetTrainingVolumeNode(sourceIndex);
  if (!source)
  {
    this->ErrorText = std::string(sourceNode ? sourceNode->GetName() : "MedGen") +
                      ": not a training volume of this session; synthetic images are placed on a training volume's grid";
    return nullptr;
  }

  vtkNew<vtkImageData> voxels;
  vtkNew<vtkMatrix4x4> ijkToRAS;
  if (!this->MedGenLogic->MakeSyntheticVolume(slices, picks, sourceIndex, voxels, ijkToRAS))
  {
    this->ErrorText = this->MedGenLogic->GetErrorText();
    return nullptr;
  }

  const std::string name = std::string(source->GetName()) + " synthetic (MedGen " + origin + ")";
  vtkMRMLScalarVolumeNode *node =
    vtkMRMLScalarVolumeNode::SafeDownCast(scene->AddNewNodeByClass("vtkMRMLScalarVolumeNode", name));
  if (!node)
  {
    this->ErrorText = name + ": the scene could not create a volume node";
    return nullptr;
  }
  const std::string model = this->MedGenLogic->GetModelFileName();
  node->SetAttribute("MedGen.Synthetic", "true");
  node->SetAttribute("MedGen.Origin", origin.c_str());
  node->SetAttribute("MedGen.Model", model.c_str());
  node->SetDescription(("SYNTHETIC image generated by MedGen (" + origin + ", model " + model + ") on the grid of " +
                        source->GetName() + ". Not patient data; not for diagnosis.")
                         .c_str());
  // The matrix already holds the source's parent transform, so the node stays untransformed.
  node->SetIJKToRASMatrix(ijkToRAS);
  node->SetAndObserveImageData(voxels);
  node->CreateDefaultDisplayNodes();
  return node;
}
