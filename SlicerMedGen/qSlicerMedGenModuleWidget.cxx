// qSlicerMedGenModuleWidget: node selectors, the embedded training panel and preview grid, and synthetic volume nodes;
// see the header.
#include "qSlicerMedGenModuleWidget.h"
#include "ui_qSlicerMedGenModuleWidget.h"

#include <QStringList>


#include <vtkMRMLLabelMapVolumeNode.h>
#include <vtkMRMLScalarVolumeNode.h>
#include <vtkMRMLSelectionNode.h>

#include <vtkSlicerApplicationLogic.h>

#include "qMedGenPreviewGrid.h"
#include "qMedGenTrainingPanel.h"
#include "vtkMedGenLogic.h"
#include "vtkSlicerMedGenLogic.h"

class qSlicerMedGenModuleWidgetPrivate : public Ui_qSlicerMedGenModuleWidget
{
public:
  vtkSlicerMedGenLogic *logic(qSlicerMedGenModuleWidget *widget) const
  {
    return vtkSlicerMedGenLogic::SafeDownCast(widget->logic());
  }

  qMedGenTrainingPanel *TrainingPanel = nullptr;
  qMedGenPreviewGrid *PreviewGrid = nullptr;
};

qSlicerMedGenModuleWidget::qSlicerMedGenModuleWidget(QWidget *parent)
  : Superclass(parent)
  , d_ptr(new qSlicerMedGenModuleWidgetPrivate)
{
}

qSlicerMedGenModuleWidget::~qSlicerMedGenModuleWidget() = default;

void qSlicerMedGenModuleWidget::setup()
{
  Q_D(qSlicerMedGenModuleWidget);
  d->setupUi(this);
  this->Superclass::setup();

  vtkSlicerMedGenLogic *logic = d->logic(this);
  vtkMedGenLogic *medGenLogic = logic ? logic->GetMedGenLogic() : nullptr;

  // The widgets are plain Qt (no Slicer), so they are created here rather than promoted in the .ui file.
  d->TrainingPanel = new qMedGenTrainingPanel(this);
  d->TrainingPanel->setLogic(medGenLogic);
  d->TrainingPanelLayout->addWidget(d->TrainingPanel);
  d->PreviewGrid = new qMedGenPreviewGrid(this);
  d->PreviewGrid->setLogic(medGenLogic);
  d->PreviewGridLayout->insertWidget(0, d->PreviewGrid); // above the status line

  for (qMRMLNodeComboBox *selector :
       {d->InputVolume1Selector, d->InputVolume2Selector, d->InputVolume3Selector, d->LabelMapSelector})
  {
    connect(selector, qOverload<vtkMRMLNode *>(&qMRMLNodeComboBox::currentNodeChanged), this,
            &qSlicerMedGenModuleWidget::updateTrainingInput);
  }
  connect(d->TrainingPanel, &qMedGenTrainingPanel::trainingStarted, this,
          &qSlicerMedGenModuleWidget::onTrainingStarted);
  connect(d->TrainingPanel, &qMedGenTrainingPanel::trainingFinished, this,
          &qSlicerMedGenModuleWidget::onTrainingFinished);
  connect(d->TrainingPanel, &qMedGenTrainingPanel::previewUpdated, d->PreviewGrid,
          &qMedGenPreviewGrid::loadTrainingPreview);
  connect(d->PreviewGrid, &qMedGenPreviewGrid::addToSceneRequested, this,
          &qSlicerMedGenModuleWidget::addSyntheticVolume);
}

void qSlicerMedGenModuleWidget::updateTrainingInput()
{
  Q_D(qSlicerMedGenModuleWidget);
  vtkSlicerMedGenLogic *logic = d->logic(this);
  if (!logic || d->TrainingPanel->isTraining())
  {
    return; // the input of a running job stays as it started
  }
  logic->ClearTrainingInput();
  QStringList problems;
  for (qMRMLNodeComboBox *selector : {d->InputVolume1Selector, d->InputVolume2Selector, d->InputVolume3Selector})
  {
    auto *volume = vtkMRMLScalarVolumeNode::SafeDownCast(selector->currentNode());
    if (volume && !logic->AddTrainingVolumeNode(volume))
    {
      problems << QString::fromStdString(logic->GetErrorText());
    }
  }
  auto *labels = vtkMRMLLabelMapVolumeNode::SafeDownCast(d->LabelMapSelector->currentNode());
  if (labels && !logic->SetTrainingLabelMapNode(labels))
  {
    problems << QString::fromStdString(logic->GetErrorText());
  }

  // The panel lists the logic's training volumes and enables Start from them; setLogic re-reads both.
  d->TrainingPanel->setLogic(logic->GetMedGenLogic());

  const int count = logic->GetNumberOfTrainingVolumeNodes();
  QString status = count == 0 ? tr("Select at least one volume to train on.")
                              : tr("%n training volume(s)", nullptr, count) + (labels && problems.isEmpty()
                                                                                  ? tr(" with a label map.")
                                                                                  : QString("."));
  if (!problems.isEmpty())
  {
    status += " " + problems.join(" ");
  }
  d->InputStatusLabel->setText(status);
}

void qSlicerMedGenModuleWidget::onTrainingStarted()
{
  Q_D(qSlicerMedGenModuleWidget);
  d->TrainingDataCollapsibleButton->setEnabled(false);
}

void qSlicerMedGenModuleWidget::onTrainingFinished(bool ok)
{
  Q_D(qSlicerMedGenModuleWidget);
  d->TrainingDataCollapsibleButton->setEnabled(true);
  if (ok)
  {
    d->PreviewGrid->loadTrainingPreview();
  }
}

void qSlicerMedGenModuleWidget::addSyntheticVolume(const std::vector<int> &picks)
{
  Q_D(qSlicerMedGenModuleWidget);
  vtkSlicerMedGenLogic *logic = d->logic(this);
  if (!logic || !d->PreviewGrid->slices())
  {
    return;
  }
  vtkMRMLScalarVolumeNode *volume = logic->AddSyntheticVolumeNode(
    d->PreviewGrid->slices(), picks, logic->GetTrainingVolumeNode(0), d->PreviewGrid->origin().toStdString());
  if (!volume)
  {
    d->SyntheticStatusLabel->setText(QString::fromStdString(logic->GetErrorText()));
    return;
  }
  d->SyntheticStatusLabel->setText(tr("Added %1 (marked synthetic).").arg(volume->GetName()));
  // Show the new volume in the slice views, as loading a volume does.
  vtkSlicerApplicationLogic *appLogic = logic->GetApplicationLogic();
  if (appLogic && appLogic->GetSelectionNode())
  {
    appLogic->GetSelectionNode()->SetActiveVolumeID(volume->GetID());
    appLogic->PropagateVolumeSelection(0);
  }
}
