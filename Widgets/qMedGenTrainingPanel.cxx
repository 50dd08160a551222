// qMedGenTrainingPanel: the training settings (the ones the panel does not show are kept from setTrainingSettings),
// Start/Stop/Resume over vtkMedGenLogic, and a 250 ms timer that polls the job while it runs: progress bar, loss
// plot, status line, previewUpdated and trainingFinished come from those polls.
#include "qMedGenTrainingPanel.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <climits>
#include <cmath>

#include "medgen.h"
#include "qMedGenLossPlot.h"
#include "vtkSmartPointer.h"

namespace
{

// Why device auto trains on the CPU, in the engine's words (why cuda cannot be used: no CUDA backend in this build,
// no usable GPU, ...); "" when it trains on the GPU. MedGenTrain uses the same engine, so this is where it trains.
QString
AutoCpuReason()
{
  static const QString reason = []() {
    mg_device resolved = MG_DEVICE_CPU;
    if (mg_device_resolve(MG_DEVICE_AUTO, &resolved, nullptr, 0) == MG_OK && resolved == MG_DEVICE_CUDA)
      return QString();
    char note[1024] = "";
    mg_device_resolve(MG_DEVICE_CUDA, &resolved, note, sizeof note);
    QString why = QString::fromUtf8(note);
    const QString prefix = QStringLiteral("device cuda cannot be used: "); // the note says where already
    return why.startsWith(prefix) ? why.mid(prefix.size()) : why;
  }();
  return reason;
}

// "m:ss", or "h:mm:ss" from an hour on.
QString
Duration(double seconds)
{
  const long total = std::lround(std::max(seconds, 0.0));
  const long hours = total / 3600, minutes = total / 60 % 60, rest = total % 60;
  if (hours > 0)
    return QStringLiteral("%1:%2:%3")
      .arg(hours)
      .arg(minutes, 2, 10, QLatin1Char('0'))
      .arg(rest, 2, 10, QLatin1Char('0'));
  return QStringLiteral("%1:%2").arg(minutes).arg(rest, 2, 10, QLatin1Char('0'));
}

void
SelectData(QComboBox *combo, const QVariant &data)
{
  const int index = combo->findData(data);
  if (index >= 0)
    combo->setCurrentIndex(index);
}

} // namespace

struct qMedGenTrainingPanel::Private
{
  static QString tr(const char *text) { return qMedGenTrainingPanel::tr(text); }
  qMedGenTrainingPanel *q;
  vtkSmartPointer<vtkMedGenLogic> Logic;
  vtkMedGenLogic::TrainingSettings Settings; // what the panel does not show comes from here
  vtkMedGenLogic::JobState State = vtkMedGenLogic::NotStarted;
  long PreviewStep = -1;

  QWidget *SettingsArea = nullptr; // disabled while training runs
  QListWidget *Inputs = nullptr;
  QComboBox *Axis = nullptr, *Resolution = nullptr, *ModelType = nullptr, *Preset = nullptr, *Device = nullptr;
  QToolButton *AdvancedToggle = nullptr;
  QWidget *Advanced = nullptr;
  QSpinBox *Steps = nullptr, *Seed = nullptr;
  QPushButton *Start = nullptr, *Stop = nullptr, *Resume = nullptr;
  QProgressBar *Progress = nullptr;
  qMedGenLossPlot *LossPlot = nullptr;
  QLabel *Status = nullptr;
  QTimer PollTimer;

  void updateButtons();
  // "Training on the CPU: <the engine's reason>." when the device is auto and the engine has no usable GPU; else "".
  QString deviceNote() const;
  void showStatus(const vtkMedGenLogic::TrainingStatus &status);
  void jobStarted();
};

void
qMedGenTrainingPanel::Private::updateButtons()
{
  const bool running = this->PollTimer.isActive();
  const bool haveInput = this->Logic && this->Logic->GetNumberOfTrainingVolumes() > 0;
  this->Start->setEnabled(haveInput && !running);
  this->Stop->setEnabled(running);
  const bool checkpointLeft = this->State == vtkMedGenLogic::Cancelled ||
                              (this->State == vtkMedGenLogic::Failed && !this->Logic->GetModelFileName().empty());
  this->Resume->setEnabled(!running && checkpointLeft);
  this->SettingsArea->setEnabled(!running);
}

QString
qMedGenTrainingPanel::Private::deviceNote() const
{
  const QString reason = AutoCpuReason();
  if (this->Device->currentData().toString() == QLatin1String("auto") && !reason.isEmpty())
    return tr("Training on the CPU: %1.").arg(reason);
  return QString();
}

void
qMedGenTrainingPanel::Private::showStatus(const vtkMedGenLogic::TrainingStatus &status)
{
  const QString eta = status.etaSeconds >= 0.0 ? Duration(status.etaSeconds) : QStringLiteral("-:--");
  this->Progress->setRange(0, static_cast<int>(std::max(status.total, 1L)));
  this->Progress->setValue(static_cast<int>(std::min(status.step, std::max(status.total, 1L))));
  const QString message = QString::fromStdString(status.message);
  const QString loss = std::isfinite(status.loss) ? QString::number(status.loss, 'g', 4) : QStringLiteral("-");
  QString text;
  switch (status.state)
  {
    case vtkMedGenLogic::Running:
      this->Progress->setFormat(status.total > 0
                                  ? tr("%1 / %2 steps, ETA %3").arg(status.step).arg(status.total).arg(eta)
                                  : tr("starting"));
      text = status.step > 0 ? tr("Training: step %1 of %2, loss %3.").arg(status.step).arg(status.total).arg(loss)
                             : (message.isEmpty() ? tr("Starting MedGenTrain...") : message);
      break;
    case vtkMedGenLogic::Finished:
      this->Progress->setFormat(
        tr("%1 / %2 steps in %3").arg(status.step).arg(status.total).arg(Duration(status.elapsedSeconds)));
      text = tr("Training finished: %1 steps, last loss %2. Model: %3")
               .arg(status.step)
               .arg(loss)
               .arg(QString::fromStdString(this->Logic->GetModelFileName()));
      break;
    case vtkMedGenLogic::Failed:
      this->Progress->setFormat(tr("%1 / %2 steps: failed").arg(status.step).arg(status.total));
      text = tr("Training failed: %1")
               .arg(message.isEmpty() ? QString::fromStdString(this->Logic->GetErrorText()) : message);
      break;
    case vtkMedGenLogic::Cancelled:
      this->Progress->setFormat(tr("%1 / %2 steps: stopped").arg(status.step).arg(status.total));
      text = tr("Stopped at step %1 of %2. The last checkpoint stays: Resume continues from it.")
               .arg(status.step)
               .arg(status.total);
      break;
    case vtkMedGenLogic::NotStarted:
      this->Progress->setFormat(tr("not started"));
      break;
  }
  const QString note = this->deviceNote();
  this->Status->setText(note.isEmpty() || text.isEmpty() ? text : note + QLatin1Char(' ') + text);
}

void
qMedGenTrainingPanel::Private::jobStarted()
{
  this->State = vtkMedGenLogic::Running;
  this->PollTimer.start();
  this->Progress->setRange(0, 1);
  this->Progress->setValue(0);
  this->Progress->setFormat(tr("starting"));
  const QString note = this->deviceNote();
  this->Status->setText(note.isEmpty() ? tr("Starting MedGenTrain...") : note + tr(" Starting MedGenTrain..."));
  this->updateButtons();
  emit q->trainingStarted();
}

qMedGenTrainingPanel::qMedGenTrainingPanel(QWidget *parent)
  : QWidget(parent)
  , d(new Private)
{
  d->q = this;
  d->SettingsArea = new QWidget;
  d->Inputs = new QListWidget;
  d->Inputs->setMaximumHeight(4 * d->Inputs->fontMetrics().height() + 8);
  d->Inputs->setToolTip(tr("The volumes to learn from (up to three)"));
  d->Axis = new QComboBox;
  d->Axis->setObjectName(QStringLiteral("AxisComboBox"));
  for (const char *axis : { "axial", "coronal", "sagittal" })
    d->Axis->addItem(tr(axis), QString::fromLatin1(axis));
  d->Axis->setToolTip(tr("The patient axis the volumes are cut along into training slices"));
  d->Resolution = new QComboBox;
  d->Resolution->setObjectName(QStringLiteral("ResolutionComboBox"));
  d->Resolution->addItem(tr("preset's"), 0);
  for (int size : { 32, 64, 128, 256 })
    d->Resolution->addItem(tr("%1 x %1").arg(size), size);
  d->Resolution->setToolTip(tr("Slices are resampled to this many pixels square"));
  d->ModelType = new QComboBox;
  d->ModelType->setObjectName(QStringLiteral("ModelTypeComboBox"));
  d->ModelType->addItem(tr("GAN"), QStringLiteral("gan"));
  d->ModelType->addItem(tr("diffusion (DDPM)"), QStringLiteral("ddpm"));
  d->ModelType->setToolTip(tr("GAN: one pass per image; diffusion: slower to sample, most faithful"));
  d->Preset = new QComboBox;
  d->Preset->setObjectName(QStringLiteral("PresetComboBox"));
  d->Preset->addItem(tr("fast"), QStringLiteral("fast"));
  d->Preset->addItem(tr("quality"), QStringLiteral("quality"));
  d->Preset->setToolTip(tr("fast: 64x64, 3000 steps; quality: larger networks, 20000 steps (a GPU helps)"));
  d->Device = new QComboBox;
  d->Device->setObjectName(QStringLiteral("DeviceComboBox"));
  d->Device->addItem(tr("auto"), QStringLiteral("auto"));
  d->Device->addItem(tr("CPU"), QStringLiteral("cpu"));
  d->Device->addItem(tr("CUDA GPU"), QStringLiteral("cuda"));
  d->Device->setToolTip(tr("auto: a GPU when MedGen has one, else the CPU"));

  d->AdvancedToggle = new QToolButton;
  d->AdvancedToggle->setObjectName(QStringLiteral("AdvancedButton"));
  d->AdvancedToggle->setText(tr("Advanced"));
  d->AdvancedToggle->setCheckable(true);
  d->AdvancedToggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  d->AdvancedToggle->setArrowType(Qt::RightArrow);
  d->AdvancedToggle->setAutoRaise(true);
  d->Advanced = new QWidget;
  d->Steps = new QSpinBox;
  d->Steps->setObjectName(QStringLiteral("StepsSpinBox"));
  d->Steps->setRange(0, 100000000);
  d->Steps->setSpecialValueText(tr("preset's"));
  d->Steps->setToolTip(tr("Total training steps; 0: the preset's"));
  d->Seed = new QSpinBox;
  d->Seed->setObjectName(QStringLiteral("SeedSpinBox"));
  d->Seed->setRange(0, INT_MAX);
  d->Seed->setToolTip(tr("Random seed of the weights, batches and noise"));
  auto *advancedForm = new QFormLayout(d->Advanced);
  advancedForm->setContentsMargins(16, 0, 0, 0);
  advancedForm->addRow(tr("Training steps"), d->Steps);
  advancedForm->addRow(tr("Seed"), d->Seed);
  d->Advanced->setVisible(false);

  auto *settingsForm = new QFormLayout(d->SettingsArea);
  settingsForm->setContentsMargins(0, 0, 0, 0);
  settingsForm->addRow(tr("Input volumes"), d->Inputs);
  settingsForm->addRow(tr("Slice axis"), d->Axis);
  settingsForm->addRow(tr("Resolution"), d->Resolution);
  settingsForm->addRow(tr("Model"), d->ModelType);
  settingsForm->addRow(tr("Preset"), d->Preset);
  settingsForm->addRow(tr("Device"), d->Device);
  settingsForm->addRow(d->AdvancedToggle);
  settingsForm->addRow(d->Advanced);

  d->Start = new QPushButton(tr("Start"));
  d->Start->setToolTip(tr("Train a new model (replaces the work folder's model)"));
  d->Stop = new QPushButton(tr("Stop"));
  d->Stop->setToolTip(tr("Stop training; the last checkpoint stays and Resume continues from it"));
  d->Resume = new QPushButton(tr("Resume"));
  d->Resume->setToolTip(tr("Continue the stopped training from its last checkpoint"));
  auto *buttons = new QHBoxLayout;
  buttons->addWidget(d->Start);
  buttons->addWidget(d->Stop);
  buttons->addWidget(d->Resume);

  d->Progress = new QProgressBar;
  d->Progress->setRange(0, 1);
  d->Progress->setValue(0);
  d->Progress->setFormat(tr("not started"));
  d->LossPlot = new qMedGenLossPlot;
  d->Status = new QLabel;
  d->Status->setWordWrap(true);
  d->Status->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto *layout = new QVBoxLayout(this);
  layout->addWidget(d->SettingsArea);
  layout->addLayout(buttons);
  layout->addWidget(d->Progress);
  layout->addWidget(d->LossPlot, 1);
  layout->addWidget(d->Status);

  connect(d->AdvancedToggle, &QToolButton::toggled, this, [this](bool shown) {
    d->Advanced->setVisible(shown);
    d->AdvancedToggle->setArrowType(shown ? Qt::DownArrow : Qt::RightArrow);
  });
  connect(d->Start, &QPushButton::clicked, this, &qMedGenTrainingPanel::startTraining);
  connect(d->Stop, &QPushButton::clicked, this, &qMedGenTrainingPanel::stopTraining);
  connect(d->Resume, &QPushButton::clicked, this, &qMedGenTrainingPanel::resumeTraining);
  d->PollTimer.setInterval(250);
  connect(&d->PollTimer, &QTimer::timeout, this, &qMedGenTrainingPanel::poll);

  this->setTrainingSettings(d->Settings);
  d->updateButtons();
}

qMedGenTrainingPanel::~qMedGenTrainingPanel()
{
  delete d;
}

void
qMedGenTrainingPanel::setLogic(vtkMedGenLogic *logic)
{
  d->PollTimer.stop();
  d->Logic = logic;
  d->State = vtkMedGenLogic::NotStarted;
  d->PreviewStep = -1;
  d->Inputs->clear();
  d->LossPlot->clear();
  if (logic)
  {
    for (int index = 0; index < logic->GetNumberOfTrainingVolumes(); ++index)
      d->Inputs->addItem(QString::fromStdString(logic->GetTrainingVolumeName(index)));
    // A job the logic already runs (the module's widget was rebuilt) is followed from here on.
    const vtkMedGenLogic::TrainingStatus status = logic->PollTraining();
    d->State = status.state;
    d->PreviewStep = status.previewStep;
    d->LossPlot->setPoints(logic->GetLossHistory());
    d->showStatus(status);
    if (status.state == vtkMedGenLogic::Running)
      d->PollTimer.start();
  }
  d->updateButtons();
}

vtkMedGenLogic *
qMedGenTrainingPanel::logic() const
{
  return d->Logic;
}

bool
qMedGenTrainingPanel::addInputVolume(vtkImageData *image, vtkMatrix4x4 *ijkToRAS, const QString &name)
{
  if (!d->Logic)
  {
    d->Status->setText(tr("No logic: cannot add %1.").arg(name));
    return false;
  }
  if (d->Logic->AddTrainingVolume(image, ijkToRAS, name.toStdString()) < 0)
  {
    d->Status->setText(QString::fromStdString(d->Logic->GetErrorText()));
    return false;
  }
  d->Inputs->addItem(name);
  d->Status->setText(tr("%n volume(s) to train on.", nullptr, d->Logic->GetNumberOfTrainingVolumes()));
  d->updateButtons();
  return true;
}

void
qMedGenTrainingPanel::clearInputVolumes()
{
  if (d->Logic)
    d->Logic->ClearTrainingInput();
  d->Inputs->clear();
  d->updateButtons();
}

QPushButton *
qMedGenTrainingPanel::startButton() const
{
  return d->Start;
}

QPushButton *
qMedGenTrainingPanel::stopButton() const
{
  return d->Stop;
}

QPushButton *
qMedGenTrainingPanel::resumeButton() const
{
  return d->Resume;
}

QProgressBar *
qMedGenTrainingPanel::progressBar() const
{
  return d->Progress;
}

qMedGenLossPlot *
qMedGenTrainingPanel::lossPlot() const
{
  return d->LossPlot;
}

QString
qMedGenTrainingPanel::statusText() const
{
  return d->Status->text();
}

vtkMedGenLogic::TrainingSettings
qMedGenTrainingPanel::trainingSettings() const
{
  vtkMedGenLogic::TrainingSettings settings = d->Settings;
  settings.axis = d->Axis->currentData().toString().toStdString();
  settings.imageSize = d->Resolution->currentData().toInt();
  settings.modelType = d->ModelType->currentData().toString().toStdString();
  settings.preset = d->Preset->currentData().toString().toStdString();
  settings.device = d->Device->currentData().toString().toStdString();
  settings.iterations = d->Steps->value();
  settings.seed = d->Seed->value();
  return settings;
}

void
qMedGenTrainingPanel::setTrainingSettings(const vtkMedGenLogic::TrainingSettings &settings)
{
  d->Settings = settings;
  SelectData(d->Axis, QString::fromStdString(settings.axis));
  if (d->Resolution->findData(settings.imageSize) < 0) // a size the list lacks (diffusion models take 8 to 256)
    d->Resolution->addItem(tr("%1 x %1").arg(settings.imageSize), settings.imageSize);
  SelectData(d->Resolution, settings.imageSize);
  SelectData(d->ModelType, QString::fromStdString(settings.modelType));
  SelectData(d->Preset, QString::fromStdString(settings.preset));
  SelectData(d->Device, QString::fromStdString(settings.device));
  d->Steps->setValue(settings.iterations);
  d->Seed->setValue(settings.seed);
}

bool
qMedGenTrainingPanel::isTraining() const
{
  return d->PollTimer.isActive();
}

void
qMedGenTrainingPanel::startTraining()
{
  if (!d->Logic || d->PollTimer.isActive())
    return;
  if (!d->Logic->StartTraining(this->trainingSettings(), true))
  {
    d->Status->setText(tr("Training did not start: %1").arg(QString::fromStdString(d->Logic->GetErrorText())));
    return;
  }
  d->PreviewStep = -1;
  d->LossPlot->clear();
  d->jobStarted();
}

void
qMedGenTrainingPanel::stopTraining()
{
  if (!d->Logic || !d->PollTimer.isActive())
    return;
  d->Logic->CancelTraining();
  this->poll();
}

void
qMedGenTrainingPanel::resumeTraining()
{
  if (!d->Logic || d->PollTimer.isActive())
    return;
  if (!d->Logic->ResumeTraining())
  {
    d->Status->setText(tr("Training did not resume: %1").arg(QString::fromStdString(d->Logic->GetErrorText())));
    return;
  }
  d->jobStarted();
}

void
qMedGenTrainingPanel::poll()
{
  if (!d->Logic)
    return;
  const vtkMedGenLogic::TrainingStatus status = d->Logic->PollTraining();
  const auto &history = d->Logic->GetLossHistory();
  d->LossPlot->setPoints(history);
  d->showStatus(status);
  if (status.previewStep >= 0 && status.previewStep != d->PreviewStep)
  {
    d->PreviewStep = status.previewStep;
    emit previewUpdated();
  }
  d->State = status.state;
  if (status.state == vtkMedGenLogic::Running)
    return;
  d->PollTimer.stop();
  d->updateButtons();
  emit trainingFinished(status.state == vtkMedGenLogic::Finished);
}
