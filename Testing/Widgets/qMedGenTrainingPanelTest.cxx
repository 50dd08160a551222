// qMedGenTrainingPanelTest: the training panel driven as a user would, by its buttons, over a real vtkMedGenLogic
// running the real MedGenTrain: a tiny GAN (width 8, 32x32) on the Colin-27 brain MRI to the end (progress bar at
// its maximum, one loss point per step, the status line and, without a usable GPU, device auto's CPU note with the
// engine's reason), then a longer run stopped mid-way (cancelled, Resume enabled) and resumed to the end, a run that
// fails (device cuda without a usable GPU: the engine's message in the status line), input refusals and the settings
// round trip. Saves a screenshot of the panel after the first run.
#include <QComboBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QToolButton>

#include "medgen.h"
#include "medgenVtkVolumes.h"
#include "qMedGenLossPlot.h"
#include "qMedGenTrainingPanel.h"
#include "qMedGenWidgetsTesting.h"
#include "vtkImageData.h"
#include "vtkMatrix4x4.h"
#include "vtkMedGenLogic.h"
#include "vtkSmartPointer.h"

namespace
{

constexpr int JobTimeoutMs = 90000; // a tiny model on a busy machine; the test itself asserts no duration

// Why device cuda cannot be used here, in the engine's words; "" when it can (mg_device_resolve, as MedGenTrain).
QString
CudaUnusableReason()
{
  mg_device resolved;
  char note[1024] = "";
  if (mg_device_resolve(MG_DEVICE_CUDA, &resolved, note, sizeof note) == MG_OK)
    return QString();
  return QString::fromUtf8(note);
}

} // namespace

class qMedGenTrainingPanelTest : public QObject
{
  Q_OBJECT
public:
  explicit qMedGenTrainingPanelTest(const qMedGenTestArguments &arguments)
    : Arguments(arguments)
  {
  }

private:
  qMedGenTestArguments Arguments;
  vtkSmartPointer<vtkImageData> Volume = vtkSmartPointer<vtkImageData>::New();
  vtkSmartPointer<vtkMatrix4x4> IJKToRAS = vtkSmartPointer<vtkMatrix4x4>::New();

  vtkSmartPointer<vtkMedGenLogic> newLogic(const QString &workFolder) const
  {
    auto logic = vtkSmartPointer<vtkMedGenLogic>::New();
    logic->SetCLIDirectory(this->Arguments.CLIDirectory.toStdString().c_str());
    logic->SetWorkDirectory(QDir(this->Arguments.Scratch).filePath(workFolder).toStdString().c_str());
    return logic;
  }

  // A tiny GAN: seconds of training on the CPU.
  static vtkMedGenLogic::TrainingSettings tinyGan(int steps)
  {
    vtkMedGenLogic::TrainingSettings settings;
    settings.modelType = "gan";
    settings.imageSize = 32;
    settings.width = 8;
    settings.batchSize = 8;
    settings.iterations = steps;
    settings.checkpointInterval = 20;
    settings.previewSeconds = 0; // a preview at every checkpoint
    settings.threads = 1;
    return settings;
  }

  void requireVolume()
  {
    if (!QFile::exists(this->Arguments.Volume))
      QSKIP(qPrintable(this->Arguments.Volume + " is absent (Debian package mricron-data): no training test"));
    if (this->Volume->GetNumberOfPoints() == 0)
    {
      std::string error;
      QVERIFY2(medgen::ReadVolume(this->Arguments.Volume.toStdString(), this->Volume, this->IJKToRAS, error),
               error.c_str());
    }
  }

private slots:
  void initTestCase()
  {
    QVERIFY(QDir(this->Arguments.Scratch).removeRecursively());
    QVERIFY(QDir().mkpath(this->Arguments.Scratch));
  }

  void settingsRoundTrip()
  {
    qMedGenTrainingPanel panel;
    vtkMedGenLogic::TrainingSettings settings;
    settings.modelType = "ddpm";
    settings.preset = "quality";
    settings.axis = "sagittal";
    settings.device = "cpu";
    settings.imageSize = 16; // not in the resolution list: added to it
    settings.iterations = 1234;
    settings.seed = 99;
    settings.baseChannels = 8; // not shown: kept
    settings.batchSize = 4;
    settings.checkpointInterval = 7;
    settings.useWindow = true;
    settings.windowMin = -100.0;
    const vtkMedGenLogic::TrainingSettings shown = (panel.setTrainingSettings(settings), panel.trainingSettings());
    QCOMPARE(shown.modelType, settings.modelType);
    QCOMPARE(shown.preset, settings.preset);
    QCOMPARE(shown.axis, settings.axis);
    QCOMPARE(shown.device, settings.device);
    QCOMPARE(shown.imageSize, 16);
    QCOMPARE(shown.iterations, 1234);
    QCOMPARE(shown.seed, 99);
    QCOMPARE(shown.baseChannels, 8);
    QCOMPARE(shown.batchSize, 4);
    QCOMPARE(shown.checkpointInterval, 7);
    QVERIFY(shown.useWindow);
    QCOMPARE(shown.windowMin, -100.0);
    // The user's choice in a combo box reaches the settings.
    auto *axis = panel.findChild<QComboBox *>("AxisComboBox");
    QVERIFY(axis);
    axis->setCurrentIndex(axis->findData(QStringLiteral("coronal")));
    QCOMPARE(panel.trainingSettings().axis, std::string("coronal"));
  }

  void refusesInputWithoutTraining()
  {
    qMedGenTrainingPanel panel;
    QVERIFY(!panel.startButton()->isEnabled()); // no logic
    vtkSmartPointer<vtkMedGenLogic> logic = this->newLogic("refusals");
    panel.setLogic(logic);
    QVERIFY(!panel.startButton()->isEnabled()); // no volume
    QVERIFY(!panel.stopButton()->isEnabled());
    QVERIFY(!panel.resumeButton()->isEnabled());
    auto twoComponents = vtkSmartPointer<vtkImageData>::New();
    twoComponents->SetDimensions(8, 8, 8);
    twoComponents->AllocateScalars(VTK_FLOAT, 2);
    QVERIFY(!panel.addInputVolume(twoComponents, this->IJKToRAS, "two components"));
    QVERIFY(!logic->GetErrorText().empty());
    QCOMPARE(panel.statusText(), QString::fromStdString(logic->GetErrorText())); // the logic's message, in full
    QVERIFY(!panel.startButton()->isEnabled());
  }

  void trainsToTheEnd()
  {
    this->requireVolume();
    qMedGenTrainingPanel panel;
    vtkSmartPointer<vtkMedGenLogic> logic = this->newLogic("full");
    panel.setLogic(logic);
    panel.setTrainingSettings(tinyGan(60));
    QVERIFY(panel.addInputVolume(this->Volume, this->IJKToRAS, "ch2"));
    QCOMPARE(logic->GetNumberOfTrainingVolumes(), 1);
    panel.resize(440, 640);
    panel.show();
    QVERIFY(panel.startButton()->isEnabled());
    QSignalSpy started(&panel, &qMedGenTrainingPanel::trainingStarted);
    QSignalSpy finished(&panel, &qMedGenTrainingPanel::trainingFinished);
    QSignalSpy previews(&panel, &qMedGenTrainingPanel::previewUpdated);

    QTest::mouseClick(panel.startButton(), Qt::LeftButton);
    QCOMPARE(started.count(), 1);
    QVERIFY(panel.isTraining());
    QVERIFY(!panel.startButton()->isEnabled());
    QVERIFY(panel.stopButton()->isEnabled());
    QVERIFY(!panel.resumeButton()->isEnabled());
    // auto resolves to the CPU exactly when cuda cannot be used; the note gives the engine's reason, without the
    // "device cuda cannot be used: " the engine starts it with.
    const QString reason = CudaUnusableReason();
    if (!reason.isEmpty())
      QVERIFY2(panel.statusText().startsWith("Training on the CPU: " + reason.section(": ", 1) + ". "),
               qPrintable(panel.statusText()));
    else
      QVERIFY2(!panel.statusText().contains("Training on the CPU"), qPrintable(panel.statusText()));

    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, JobTimeoutMs);
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(panel.statusText()));
    QVERIFY(!panel.isTraining());
    QCOMPARE(panel.progressBar()->maximum(), 60);
    QCOMPARE(panel.progressBar()->value(), 60);
    QVERIFY2(panel.progressBar()->text().startsWith("60 / 60 steps"), qPrintable(panel.progressBar()->text()));
    QCOMPARE(panel.lossPlot()->pointCount(), 60);
    QVERIFY2(panel.statusText().contains("Training finished: 60 steps"), qPrintable(panel.statusText()));
    QVERIFY2(panel.statusText().contains(QString::fromStdString(logic->GetModelFileName())),
             qPrintable(panel.statusText()));
    QVERIFY(!logic->GetModelFileName().empty());
    QVERIFY(previews.count() >= 1); // the preview written at the end at least
    QVERIFY(panel.startButton()->isEnabled());
    QVERIFY(!panel.stopButton()->isEnabled());
    QVERIFY(!panel.resumeButton()->isEnabled()); // nothing left to resume

    // The advanced settings open on their button, showing the run's steps.
    auto *advanced = panel.findChild<QToolButton *>("AdvancedButton");
    auto *stepsBox = panel.findChild<QSpinBox *>("StepsSpinBox");
    QVERIFY(advanced && stepsBox);
    QVERIFY(!stepsBox->isVisible());
    QTest::mouseClick(advanced, Qt::LeftButton);
    QVERIFY(stepsBox->isVisible());
    QCOMPARE(stepsBox->value(), 60);
    panel.resize(440, std::max(640, panel.heightForWidth(440))); // room for the wrapped status line
    QVERIFY(qMedGenSaveScreenshot(&panel, "qMedGenTrainingPanel.png", this->Arguments));
  }

  void stopsAndResumes()
  {
    this->requireVolume();
    qMedGenTrainingPanel panel;
    vtkSmartPointer<vtkMedGenLogic> logic = this->newLogic("resumed");
    panel.setLogic(logic);
    const int steps = 300;
    panel.setTrainingSettings(tinyGan(steps));
    QVERIFY(panel.addInputVolume(this->Volume, this->IJKToRAS, "ch2"));
    panel.show();
    QSignalSpy finished(&panel, &qMedGenTrainingPanel::trainingFinished);

    QTest::mouseClick(panel.startButton(), Qt::LeftButton);
    // Past the second checkpoint, so Resume continues this run's model.
    QTRY_VERIFY_WITH_TIMEOUT(panel.progressBar()->value() > 40 || finished.count() > 0, JobTimeoutMs);
    QVERIFY2(finished.count() == 0, "the run ended before it could be stopped");
    QCOMPARE(panel.progressBar()->maximum(), steps);
    const QRegularExpression progressText("^\\d+ / 300 steps, ETA (\\d+:\\d\\d|-:--)$");
    QVERIFY2(progressText.match(panel.progressBar()->text()).hasMatch(), qPrintable(panel.progressBar()->text()));

    QTest::mouseClick(panel.stopButton(), Qt::LeftButton);
    QCOMPARE(finished.count(), 1);
    QVERIFY(!finished.at(0).at(0).toBool());
    QCOMPARE(static_cast<int>(logic->PollTraining().state), static_cast<int>(vtkMedGenLogic::Cancelled));
    QVERIFY(!panel.isTraining());
    QVERIFY(panel.resumeButton()->isEnabled());
    QVERIFY(panel.startButton()->isEnabled());
    QVERIFY(!panel.stopButton()->isEnabled());
    QVERIFY2(panel.statusText().contains("Stopped at step"), qPrintable(panel.statusText()));
    const int stoppedAt = panel.progressBar()->value();
    QVERIFY(stoppedAt > 40 && stoppedAt < steps);

    QTest::mouseClick(panel.resumeButton(), Qt::LeftButton);
    QVERIFY(panel.isTraining());
    QVERIFY(!panel.resumeButton()->isEnabled());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, JobTimeoutMs);
    QVERIFY2(finished.at(1).at(0).toBool(), qPrintable(panel.statusText()));
    QCOMPARE(panel.progressBar()->value(), steps);
    // One loss per step over both parts: the steps after the checkpoint that the stop lost are not counted twice.
    QCOMPARE(panel.lossPlot()->pointCount(), steps);
    const auto &history = logic->GetLossHistory();
    QCOMPARE(history.front().first, 1L);
    QCOMPARE(history.back().first, static_cast<long>(steps));
    QVERIFY(!panel.resumeButton()->isEnabled());
  }

  void failureShownInFull()
  {
    this->requireVolume();
    const QString reason = CudaUnusableReason();
    if (reason.isEmpty())
      QSKIP("a usable GPU: device cuda does not fail");
    qMedGenTrainingPanel panel;
    vtkSmartPointer<vtkMedGenLogic> logic = this->newLogic("failed");
    panel.setLogic(logic);
    vtkMedGenLogic::TrainingSettings settings = tinyGan(20);
    settings.device = "cuda";
    panel.setTrainingSettings(settings);
    QVERIFY(panel.addInputVolume(this->Volume, this->IJKToRAS, "ch2"));
    QSignalSpy finished(&panel, &qMedGenTrainingPanel::trainingFinished);
    QTest::mouseClick(panel.startButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, JobTimeoutMs);
    QVERIFY(!finished.at(0).at(0).toBool());
    // The engine's own words reach the status line; no note about auto's CPU fallback.
    QVERIFY2(panel.statusText().startsWith("Training failed: "), qPrintable(panel.statusText()));
    QVERIFY2(panel.statusText().contains(reason), qPrintable(panel.statusText()));
    QVERIFY(!panel.statusText().contains("Training on the CPU"));
    QVERIFY(panel.startButton()->isEnabled());
    QVERIFY(!panel.stopButton()->isEnabled());
  }
};

int
main(int argc, char **argv)
{
  return qMedGenRunTest<qMedGenTrainingPanelTest>(argc, argv);
}

#include "qMedGenTrainingPanelTest.moc"
