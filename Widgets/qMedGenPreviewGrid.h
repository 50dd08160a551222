// qMedGenPreviewGrid: synthetic slices in a grid, with window/level, a class picker, "New seed" (a sampling job
// through vtkMedGenLogic, polled by a timer: the GUI never waits), a selected tile, "Add to scene" and "Export...".
// It shows either the training preview or the samples of the last sampling job. Plain Qt 5: in Slicer, the module
// widget answers addToSceneRequested with a volume node; standalone, the signal is simply not connected.
#ifndef qMedGenPreviewGrid_h
#define qMedGenPreviewGrid_h

#include <QWidget>
#include <vector>

class vtkImageData;
class vtkMedGenLogic;
class QPushButton;

class qMedGenPreviewGrid : public QWidget
{
  Q_OBJECT
public:
  explicit qMedGenPreviewGrid(QWidget *parent = nullptr);
  ~qMedGenPreviewGrid() override;
  void setLogic(vtkMedGenLogic *logic);

  // Shows slices (size x size x n, source units; copied). Window/level starts at the slices' 1st and 99th percentile.
  void setSlices(vtkImageData *slices);
  vtkImageData *slices() const;
  int sliceCount() const;
  // Window/level in source units.
  void setWindowLevel(double window, double level);
  double window() const;
  double level() const;
  // The selected tile (-1: none) and the chosen class ("" for none).
  int selectedIndex() const;
  void setSelectedIndex(int index);
  QString className() const;
  // Refreshes the class picker from the logic's model.
  void updateClasses();
  // Nearest-neighbour tiles (the default: every model pixel stays visible) or smoothly interpolated ones.
  void setSmoothPixels(bool smooth);
  // The seed of the newest samples: 1 (the training preview's) until New seed, which adds one each time.
  int seed() const;
  // Where the slices shown came from: "training preview (seed 1)", "seed 3", "seed 4, class label 2"; "" when they
  // were given by setSlices. The Slicer module names synthetic volumes with it.
  QString origin() const;
  bool isSampling() const;
  // What "Export..." does once a file name is chosen: vtkMedGenLogic::ExportSamples, its outcome in the status line.
  bool exportSamplesTo(const QString &path);

  // The widgets a test or the Slicer module drives.
  int tileCount() const; // tiles shown
  QWidget *tileWidget(int index) const;
  QPushButton *newSeedButton() const;
  QPushButton *addToSceneButton() const;
  QPushButton *exportButton() const;
  QString statusText() const;

signals:
  void addToSceneRequested(const std::vector<int> &picks); // the selected tile, or all when none is selected
  void samplingFinished(bool ok);

public slots:
  // Shows the logic's newest training preview; false (status line says why) when there is none yet.
  bool loadTrainingPreview();
  // Starts a sampling job with a new seed (the previous + 1) and the chosen class; the grid fills when it ends.
  void sampleNewSeed();
  // Asks for a file name and calls vtkMedGenLogic::ExportSamples.
  void exportSamples();

private:
  struct Private;
  Private *d;
};

#endif
