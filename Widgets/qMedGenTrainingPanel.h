// qMedGenTrainingPanel: the training controls over vtkMedGenLogic: input volumes (names; the owner adds the volumes:
// the Slicer module from node selectors, a test from files), axis, resolution, model kind, preset, device, steps,
// seed; Start, Stop and Resume; a progress bar with the ETA; the live loss plot; a status line. A timer polls the
// logic (4 times a second) while a job runs, so the GUI never waits on training. Device: "auto" uses a GPU when the
// engine has one and says in the status line, without a dialog, when it falls back to the CPU.
#ifndef qMedGenTrainingPanel_h
#define qMedGenTrainingPanel_h

#include <QWidget>

#include "vtkMedGenLogic.h"

class vtkImageData;
class vtkMatrix4x4;
class qMedGenLossPlot;
class QProgressBar;
class QPushButton;

class qMedGenTrainingPanel : public QWidget
{
  Q_OBJECT
public:
  explicit qMedGenTrainingPanel(QWidget *parent = nullptr);
  ~qMedGenTrainingPanel() override;
  void setLogic(vtkMedGenLogic *logic);
  vtkMedGenLogic *logic() const;

  // Adds a training volume to the logic and lists it; false (status line says why) when the logic refuses it.
  bool addInputVolume(vtkImageData *image, vtkMatrix4x4 *ijkToRAS, const QString &name);
  void clearInputVolumes();

  // The widgets a test or the Slicer module drives.
  QPushButton *startButton() const;
  QPushButton *stopButton() const;
  QPushButton *resumeButton() const;
  QProgressBar *progressBar() const;
  qMedGenLossPlot *lossPlot() const;
  QString statusText() const;
  // The settings the panel shows (advanced ones included), as the logic takes them.
  vtkMedGenLogic::TrainingSettings trainingSettings() const;
  void setTrainingSettings(const vtkMedGenLogic::TrainingSettings &settings);
  bool isTraining() const;

signals:
  void trainingStarted();
  void trainingFinished(bool ok);  // ok false: failed or cancelled
  void previewUpdated();           // a new training preview is in the logic (LoadTrainingPreview)

public slots:
  void startTraining();
  void stopTraining();
  void resumeTraining();

private slots:
  void poll();

private:
  struct Private;
  Private *d;
};

#endif
