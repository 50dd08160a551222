// qMedGenPreviewGridTest: the preview grid over a real vtkMedGenLogic. The fixture trains a tiny GAN (width 8,
// 32x32) on the Colin-27 brain MRI; then: the training preview fills 16 tiles, each captioned synthetic; window and
// level (the API and the spin box) change the rendered pixels; New seed runs MedGenSample and refills the grid with
// other images, the button disabled meanwhile; clicking a tile selects it and Add to scene emits it (or all when
// none is selected); Export writes a NRRD that carries the synthetic mark, and a bad path says why in the status
// line. Saves a screenshot of the grid.
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QPushButton>
#include <QSignalSpy>

#include <map>

#include "medgenVtkVolumes.h"
#include "qMedGenPreviewGrid.h"
#include "qMedGenWidgetsTesting.h"
#include "vtkDataArray.h"
#include "vtkImageData.h"
#include "vtkMatrix4x4.h"
#include "vtkMedGenLogic.h"
#include "vtkPointData.h"
#include "vtkSmartPointer.h"

namespace
{

constexpr int JobTimeoutMs = 90000; // a tiny model on a busy machine; the test itself asserts no duration

QImage
Picture(QWidget *widget)
{
  return widget->grab().toImage();
}

// Whether two slice stacks hold the same voxel values.
bool
SameVoxels(vtkImageData *a, vtkImageData *b)
{
  vtkDataArray *x = a->GetPointData()->GetScalars(), *y = b->GetPointData()->GetScalars();
  if (x->GetNumberOfTuples() != y->GetNumberOfTuples())
    return false;
  for (vtkIdType i = 0; i < x->GetNumberOfTuples(); ++i)
    if (x->GetComponent(i, 0) != y->GetComponent(i, 0))
      return false;
  return true;
}

} // namespace

class qMedGenPreviewGridTest : public QObject
{
  Q_OBJECT
public:
  explicit qMedGenPreviewGridTest(const qMedGenTestArguments &arguments)
    : Arguments(arguments)
  {
  }

private:
  qMedGenTestArguments Arguments;
  vtkSmartPointer<vtkMedGenLogic> Logic = vtkSmartPointer<vtkMedGenLogic>::New();
  qMedGenPreviewGrid *Grid = nullptr;

private slots:
  // Trains the model every test here samples from.
  void initTestCase()
  {
    QVERIFY(QDir(this->Arguments.Scratch).removeRecursively());
    QVERIFY(QDir().mkpath(this->Arguments.Scratch));
    if (!QFile::exists(this->Arguments.Volume))
      QSKIP(qPrintable(this->Arguments.Volume + " is absent (Debian package mricron-data): no preview to show"));
    auto volume = vtkSmartPointer<vtkImageData>::New();
    auto ijkToRAS = vtkSmartPointer<vtkMatrix4x4>::New();
    std::string error;
    QVERIFY2(medgen::ReadVolume(this->Arguments.Volume.toStdString(), volume, ijkToRAS, error), error.c_str());

    this->Logic->SetCLIDirectory(this->Arguments.CLIDirectory.toStdString().c_str());
    this->Logic->SetWorkDirectory(QDir(this->Arguments.Scratch).filePath("work").toStdString().c_str());
    QVERIFY2(this->Logic->AddTrainingVolume(volume, ijkToRAS, "ch2") == 0, this->Logic->GetErrorText().c_str());
    vtkMedGenLogic::TrainingSettings settings;
    settings.modelType = "gan";
    settings.imageSize = 32;
    settings.width = 8;
    settings.batchSize = 8;
    settings.iterations = 400;
    settings.threads = 1;
    QVERIFY2(this->Logic->StartTraining(settings, true), this->Logic->GetErrorText().c_str());
    vtkMedGenLogic::TrainingStatus status;
    QTRY_VERIFY_WITH_TIMEOUT((status = this->Logic->PollTraining()).state != vtkMedGenLogic::Running, JobTimeoutMs);
    QVERIFY2(status.state == vtkMedGenLogic::Finished, status.message.c_str());

    this->Grid = new qMedGenPreviewGrid;
    this->Grid->setLogic(this->Logic);
    this->Grid->show();
  }

  void cleanupTestCase()
  {
    delete this->Grid;
  }

  void showsTheTrainingPreview()
  {
    qMedGenPreviewGrid &grid = *this->Grid;
    QCOMPARE(grid.tileCount(), 0);
    QVERIFY(!grid.addToSceneButton()->isEnabled());
    QVERIFY(!grid.exportButton()->isEnabled()); // nothing sampled yet
    QVERIFY2(grid.loadTrainingPreview(), qPrintable(grid.statusText()));
    QCOMPARE(grid.tileCount(), 16);
    QCOMPARE(grid.sliceCount(), 16);
    QCOMPARE(grid.seed(), 1);
    int dimensions[3];
    grid.slices()->GetDimensions(dimensions);
    QCOMPARE(dimensions[0], 32);
    QCOMPARE(dimensions[1], 32);
    for (int index = 0; index < 16; ++index)
    {
      QVERIFY(grid.tileWidget(index)->isVisible());
      QVERIFY(grid.tileWidget(index)->toolTip().contains("Synthetic"));
    }
    QVERIFY(grid.tileWidget(16) == nullptr);
    QVERIFY(grid.window() > 0.0);
    QVERIFY(grid.addToSceneButton()->isEnabled());
    // An unconditional model: no class to pick.
    auto *classes = grid.findChild<QComboBox *>("ClassComboBox");
    QVERIFY(classes);
    QCOMPARE(classes->count(), 1);
    QCOMPARE(classes->itemText(0), QString("(none)"));
    QVERIFY(!classes->isEnabled());
    QCOMPARE(grid.className(), QString());
  }

  void windowLevelChangesPixels()
  {
    qMedGenPreviewGrid &grid = *this->Grid;
    QVERIFY(grid.tileCount() == 16);
    const double window = grid.window(), level = grid.level();
    const QImage initial = Picture(grid.tileWidget(3));
    grid.setWindowLevel(window / 4.0, level);
    const QImage narrow = Picture(grid.tileWidget(3));
    QVERIFY(narrow != initial);
    QCOMPARE(grid.window(), window / 4.0);
    // The level spin box, as a user would: a brighter level darkens the tile.
    auto *levelSpin = grid.findChild<QDoubleSpinBox *>("LevelSpinBox");
    QVERIFY(levelSpin);
    levelSpin->setValue(level + window / 2.0);
    QVERIFY(std::abs(grid.level() - (level + window / 2.0)) <= levelSpin->singleStep());
    const QImage darker = Picture(grid.tileWidget(3));
    QVERIFY(darker != narrow);
    auto brightness = [](const QImage &image) {
      qint64 sum = 0;
      for (int y = 0; y < image.height(); ++y)
        for (int x = 0; x < image.width(); ++x)
          sum += qGray(image.pixel(x, y));
      return sum;
    };
    QVERIFY(brightness(darker) < brightness(narrow));
    grid.setWindowLevel(window, level);
    QCOMPARE(Picture(grid.tileWidget(3)), initial);
    grid.setWindowLevel(0.0, level); // refused: no window of zero width
    QCOMPARE(grid.window(), window);
  }

  void newSeedRefills()
  {
    qMedGenPreviewGrid &grid = *this->Grid;
    auto preview = vtkSmartPointer<vtkImageData>::New();
    preview->DeepCopy(grid.slices());
    const QImage previewTile = Picture(grid.tileWidget(0));
    QSignalSpy finished(&grid, &qMedGenPreviewGrid::samplingFinished);

    QTest::mouseClick(grid.newSeedButton(), Qt::LeftButton);
    QVERIFY2(grid.isSampling(), qPrintable(grid.statusText()));
    QVERIFY(!grid.newSeedButton()->isEnabled());
    QVERIFY(grid.newSeedButton()->text().startsWith("Sampling"));
    QTest::mouseClick(grid.newSeedButton(), Qt::LeftButton); // disabled: no second job
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, JobTimeoutMs);
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(grid.statusText()));
    QVERIFY(grid.newSeedButton()->isEnabled());
    QCOMPARE(grid.newSeedButton()->text(), QString("New seed"));
    QCOMPARE(grid.seed(), 2);
    QCOMPARE(grid.tileCount(), 16);
    QVERIFY(!SameVoxels(preview, grid.slices()));
    QVERIFY(Picture(grid.tileWidget(0)) != previewTile);
    QVERIFY(grid.exportButton()->isEnabled());

    auto seed2 = vtkSmartPointer<vtkImageData>::New();
    seed2->DeepCopy(grid.slices());
    grid.sampleNewSeed();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, JobTimeoutMs);
    QVERIFY2(finished.at(1).at(0).toBool(), qPrintable(grid.statusText()));
    QCOMPARE(grid.seed(), 3);
    QVERIFY(!SameVoxels(seed2, grid.slices()));
  }

  void selectionAndAddToScene()
  {
    qMedGenPreviewGrid &grid = *this->Grid;
    QVERIFY(grid.tileCount() == 16);
    qRegisterMetaType<std::vector<int>>("std::vector<int>");
    QSignalSpy requested(&grid, &qMedGenPreviewGrid::addToSceneRequested);
    QVERIFY(requested.isValid());
    QCOMPARE(grid.selectedIndex(), -1);
    const QImage unselected = Picture(grid.tileWidget(5));
    QTest::mouseClick(grid.tileWidget(5), Qt::LeftButton);
    QCOMPARE(grid.selectedIndex(), 5);
    QVERIFY(Picture(grid.tileWidget(5)) != unselected); // highlighted
    QTest::mouseClick(grid.addToSceneButton(), Qt::LeftButton);
    QCOMPARE(requested.count(), 1);
    QCOMPARE(requested.at(0).at(0).value<std::vector<int>>(), std::vector<int>{ 5 });

    QTest::mouseClick(grid.tileWidget(5), Qt::LeftButton); // a second click unselects
    QCOMPARE(grid.selectedIndex(), -1);
    QCOMPARE(Picture(grid.tileWidget(5)), unselected);
    QTest::mouseClick(grid.addToSceneButton(), Qt::LeftButton);
    QCOMPARE(requested.count(), 2);
    const auto all = requested.at(1).at(0).value<std::vector<int>>();
    QCOMPARE(static_cast<int>(all.size()), 16);
    QCOMPARE(all.front(), 0);
    QCOMPARE(all.back(), 15);

    QTest::mouseClick(grid.tileWidget(9), Qt::LeftButton);
    grid.resize(460, grid.heightForWidth(460)); // room for every tile and the wrapped status line
    QVERIFY(qMedGenSaveScreenshot(&grid, "qMedGenPreviewGrid.png", this->Arguments));
  }

  void exportsMarkedSamples()
  {
    qMedGenPreviewGrid &grid = *this->Grid;
    QVERIFY(grid.exportButton()->isEnabled());
    const QString path = QDir(this->Arguments.Scratch).filePath("exported.nrrd");
    QVERIFY2(grid.exportSamplesTo(path), qPrintable(grid.statusText()));
    QVERIFY(grid.statusText().contains(path));
    auto exported = vtkSmartPointer<vtkImageData>::New();
    auto ijkToRAS = vtkSmartPointer<vtkMatrix4x4>::New();
    std::map<std::string, std::string> metadata;
    std::string error;
    QVERIFY2(medgen::ReadVolume(path.toStdString(), exported, ijkToRAS, error, &metadata), error.c_str());
    QCOMPARE(QString::fromStdString(metadata["MedGen"]), QString("synthetic"));
    QVERIFY(SameVoxels(exported, grid.slices())); // the samples shown, seed 3

    const QString badPath = QDir(this->Arguments.Scratch).filePath("no such folder/exported.nrrd");
    QVERIFY(!grid.exportSamplesTo(badPath));
    QVERIFY2(grid.statusText().startsWith("Export failed: "), qPrintable(grid.statusText()));
    QVERIFY2(grid.statusText().contains(QString::fromStdString(this->Logic->GetErrorText())),
             qPrintable(grid.statusText()));
    QVERIFY(!QFile::exists(badPath));
  }
};

int
main(int argc, char **argv)
{
  return qMedGenRunTest<qMedGenPreviewGridTest>(argc, argv);
}

#include "qMedGenPreviewGridTest.moc"
