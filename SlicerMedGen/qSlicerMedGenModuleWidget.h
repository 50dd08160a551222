// qSlicerMedGenModuleWidget: the MedGen module's panel. "Training data" picks volume nodes (up to three, or one with a
// label map) and hands them to vtkSlicerMedGenLogic; "Training" embeds qMedGenTrainingPanel and "Synthetic images"
// qMedGenPreviewGrid (Widgets/, plain Qt over vtkMedGenLogic); "Add to scene" becomes a synthetic volume node.
// Jobs run out of process and are polled by timers, so nothing here waits on training or sampling.
#ifndef qSlicerMedGenModuleWidget_h
#define qSlicerMedGenModuleWidget_h

#include <vector>

#include "qSlicerAbstractModuleWidget.h"

#include "qSlicerMedGenModuleExport.h"

class qSlicerMedGenModuleWidgetPrivate;

class Q_SLICER_QTMODULES_MEDGEN_EXPORT qSlicerMedGenModuleWidget : public qSlicerAbstractModuleWidget
{
  Q_OBJECT

public:
  typedef qSlicerAbstractModuleWidget Superclass;
  explicit qSlicerMedGenModuleWidget(QWidget *parent = nullptr);
  ~qSlicerMedGenModuleWidget() override;

public slots:
  // Hands the selected volumes (and label map) to the logic again; the status line says what was refused.
  void updateTrainingInput();
  // Adds the grid's images picks as a synthetic volume node on the first training volume's grid, named after where
  // the images came from (qMedGenPreviewGrid::origin).
  void addSyntheticVolume(const std::vector<int> &picks);

protected slots:
  void onTrainingStarted();
  void onTrainingFinished(bool ok);

protected:
  QScopedPointer<qSlicerMedGenModuleWidgetPrivate> d_ptr;
  void setup() override;

private:
  Q_DECLARE_PRIVATE(qSlicerMedGenModuleWidget);
  Q_DISABLE_COPY(qSlicerMedGenModuleWidget);
};

#endif
