// qSlicerMedGenModule: metadata and factories of the MedGen loadable module; see the header.
#include "qSlicerMedGenModule.h"

#include <qSlicerCoreApplication.h>

#include "qSlicerMedGenModuleWidget.h"
#include "vtkSlicerMedGenLogic.h"

qSlicerMedGenModule::qSlicerMedGenModule(QObject *parent)
  : Superclass(parent)
{
}

qSlicerMedGenModule::~qSlicerMedGenModule() = default;

QString qSlicerMedGenModule::helpText() const
{
  return tr("<p>MedGen trains a generative model (a GAN or a DDPM diffusion model) on slices of your own volumes and "
            "draws synthetic images from it.</p>"
            "<p><b>Training data</b>: up to three scalar volumes, or one volume with a label map giving each slice's "
            "class. <b>Training</b>: model, preset, axis, resolution and device; Start, Stop and Resume (training runs "
            "in a separate process, so Slicer stays responsive, and Stop keeps the last checkpoint), progress with the "
            "remaining time, and the loss as it falls. <b>Synthetic images</b>: a grid of previews during training, "
            "then new images with a new seed; Add to scene places them on the training volume's grid as a new volume, "
            "Export writes them to a file.</p>"
            "<p>Device \"auto\" uses a GPU when the engine has one and otherwise trains on the CPU; the status line "
            "says which, without a dialog.</p>"
            "<p>Every synthetic volume is named \"... synthetic (MedGen ...)\" and carries the attribute "
            "MedGen.Synthetic = true and a description saying so. Synthetic images are not patient data and are not "
            "for diagnosis.</p>"
            "<p>See <a href=\"https://github.com/medgen-project/MedGen\">the MedGen repository</a>.</p>");
}

QString qSlicerMedGenModule::acknowledgementText() const
{
  return tr("MedGen's DDPM follows MONAI's 2D DDPM tutorial; the GAN's augmentation controller follows StyleGAN2-ADA. "
            "Built on ITK, VTK, Qt and 3D Slicer.");
}

QStringList qSlicerMedGenModule::contributors() const
{
  return QStringList() << QString("MedGen developers");
}

QIcon qSlicerMedGenModule::icon() const
{
  return QIcon(":/Icons/MedGen.png");
}

QStringList qSlicerMedGenModule::categories() const
{
  return QStringList() << "Image Synthesis";
}

QStringList qSlicerMedGenModule::dependencies() const
{
  return QStringList();
}

void qSlicerMedGenModule::setup()
{
  this->Superclass::setup();
  vtkSlicerMedGenLogic *medGenLogic = vtkSlicerMedGenLogic::SafeDownCast(this->logic());
  qSlicerCoreApplication *app = qSlicerCoreApplication::application();
  if (medGenLogic && app)
  {
    medGenLogic->ConfigureDirectories(this->path().toStdString(), app->intDir().toStdString());
  }
}

qSlicerAbstractModuleRepresentation *qSlicerMedGenModule::createWidgetRepresentation()
{
  return new qSlicerMedGenModuleWidget;
}

vtkMRMLAbstractLogic *qSlicerMedGenModule::createLogic()
{
  return vtkSlicerMedGenLogic::New();
}
