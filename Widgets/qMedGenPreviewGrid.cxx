// qMedGenPreviewGrid: the synthetic slices as tiles (window/level mapped to grey, scaled to TileSize pixels), each
// tile captioned "synthetic" so no screenshot of the grid passes for patient data. New seed runs MedGenSample
// through the logic; a timer polls it and the grid refills when it ends.
#include "qMedGenPreviewGrid.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "vtkDataArray.h"
#include "vtkImageData.h"
#include "vtkMedGenLogic.h"
#include "vtkPointData.h"
#include "vtkSmartPointer.h"

namespace
{

constexpr int TileSize = 96;   // pixels of a tile's image, whatever the model's slice size
constexpr int TileBorder = 3;  // the selection highlight's width
constexpr int SampleCount = 16;
constexpr int SliderSteps = 1000;

// One tile: the image, the "synthetic" caption over its lower edge, a highlight when selected.
class qMedGenPreviewTile : public QWidget
{
public:
  explicit qMedGenPreviewTile(QWidget *parent)
    : QWidget(parent)
  {
    this->setFixedSize(TileSize + 2 * TileBorder, TileSize + 2 * TileBorder);
    this->setCursor(Qt::PointingHandCursor);
  }
  QPixmap Pixmap;
  bool Selected = false;
  std::function<void()> Clicked;

protected:
  void paintEvent(QPaintEvent *) override
  {
    QPainter painter(this);
    const QRect imageArea(TileBorder, TileBorder, TileSize, TileSize);
    painter.fillRect(imageArea, Qt::black);
    painter.drawPixmap(imageArea.topLeft() + QPoint((TileSize - this->Pixmap.width()) / 2,
                                                    (TileSize - this->Pixmap.height()) / 2),
                       this->Pixmap);
    // The caption sits in the image's corner on a dark plate, so even a cropped screenshot of a tile carries it.
    QFont font = painter.font();
    font.setPointSizeF(font.pointSizeF() * 0.75);
    painter.setFont(font);
    const QFontMetrics metrics(font);
    const QString caption = QObject::tr("synthetic");
    const QRect plate(imageArea.left(), imageArea.bottom() + 1 - metrics.height(),
                      metrics.horizontalAdvance(caption) + 6, metrics.height());
    painter.fillRect(plate, QColor(0, 0, 0, 170));
    painter.setPen(QColor(255, 210, 80));
    painter.drawText(plate, Qt::AlignCenter, caption);
    if (this->Selected)
    {
      painter.setPen(QPen(this->palette().color(QPalette::Highlight), TileBorder, Qt::SolidLine, Qt::SquareCap,
                          Qt::MiterJoin));
      painter.drawRect(QRectF(TileBorder / 2.0, TileBorder / 2.0, this->width() - TileBorder,
                              this->height() - TileBorder));
    }
  }
  void mousePressEvent(QMouseEvent *event) override
  {
    if (event->button() == Qt::LeftButton && this->Clicked)
      this->Clicked();
  }
};

// Digits after the point that suit values spanning span (CT in HU: 0; MRI scaled to 0..1: 3).
int
DecimalsFor(double span)
{
  return std::clamp(3 - static_cast<int>(std::floor(std::log10(span))), 0, 6);
}

} // namespace

struct qMedGenPreviewGrid::Private
{
  static QString tr(const char *text) { return qMedGenPreviewGrid::tr(text); }
  qMedGenPreviewGrid *q;
  vtkSmartPointer<vtkMedGenLogic> Logic;
  vtkSmartPointer<vtkImageData> Slices;
  std::vector<float> Values; // the slices' voxels, image after image, row 0 first
  int Width = 0, Height = 0, Count = 0;
  double DataMin = 0.0, DataMax = 1.0;
  double Window = 1.0, Level = 0.5;
  int Selected = -1;
  bool Smooth = false;
  int Seed = 1;
  bool ShowingSamples = false; // the grid shows the logic's newest samples file, which Export copies
  QString Origin;
  QString SamplingClass;

  QLabel *Caption = nullptr;
  QWidget *TileArea = nullptr;
  QGridLayout *TileLayout = nullptr;
  std::vector<qMedGenPreviewTile *> Tiles;
  QDoubleSpinBox *WindowSpin = nullptr, *LevelSpin = nullptr;
  QSlider *WindowSlider = nullptr, *LevelSlider = nullptr;
  QCheckBox *SmoothCheck = nullptr;
  QComboBox *ClassPicker = nullptr;
  QPushButton *NewSeedButton = nullptr, *AddButton = nullptr, *ExportButton = nullptr;
  QLabel *Status = nullptr;
  QTimer SamplingTimer;

  void buildTiles();
  void renderTiles();
  void showWindowLevel(); // spin boxes and sliders follow Window and Level
  void updateButtons();
  // origin: where the slices came from ("seed 3", "training preview (seed 1)"; "" when set from outside).
  void showSlices(vtkImageData *slices, const QString &origin, bool samples);
  void pollSampling();
  double windowOfSlider(int position) const { return (DataMax - DataMin) * 2.0 * std::max(position, 1) / SliderSteps; }
  double levelOfSlider(int position) const { return DataMin + (DataMax - DataMin) * position / SliderSteps; }
};

void
qMedGenPreviewGrid::Private::buildTiles()
{
  for (qMedGenPreviewTile *tile : this->Tiles)
    delete tile;
  this->Tiles.clear();
  const int columns = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(this->Count)))));
  for (int index = 0; index < this->Count; ++index)
  {
    auto *tile = new qMedGenPreviewTile(this->TileArea);
    tile->setToolTip(tr("Synthetic image %1: click to select it for Add to scene").arg(index + 1));
    tile->Clicked = [this, index]() { q->setSelectedIndex(this->Selected == index ? -1 : index); };
    this->TileLayout->addWidget(tile, index / columns, index % columns);
    tile->show(); // now, not when the event loop next runs
    this->Tiles.push_back(tile);
  }
}

void
qMedGenPreviewGrid::Private::renderTiles()
{
  const double low = this->Level - this->Window / 2.0;
  const double scale = 255.0 / this->Window;
  const size_t pixels = static_cast<size_t>(this->Width) * this->Height;
  for (int index = 0; index < this->Count; ++index)
  {
    QImage image(this->Width, this->Height, QImage::Format_Grayscale8);
    const float *values = this->Values.data() + pixels * index;
    for (int row = 0; row < this->Height; ++row)
    {
      uchar *line = image.scanLine(row);
      for (int column = 0; column < this->Width; ++column)
      {
        const double grey = (values[static_cast<size_t>(row) * this->Width + column] - low) * scale;
        line[column] = static_cast<uchar>(std::clamp(grey + 0.5, 0.0, 255.0));
      }
    }
    qMedGenPreviewTile *tile = this->Tiles[index];
    tile->Pixmap = QPixmap::fromImage(image.scaled(TileSize, TileSize, Qt::KeepAspectRatio,
                                                  this->Smooth ? Qt::SmoothTransformation : Qt::FastTransformation));
    tile->Selected = index == this->Selected;
    tile->update();
  }
}

void
qMedGenPreviewGrid::Private::showWindowLevel()
{
  const QSignalBlocker blockWindowSpin(this->WindowSpin), blockLevelSpin(this->LevelSpin),
    blockWindowSlider(this->WindowSlider), blockLevelSlider(this->LevelSlider);
  this->WindowSpin->setValue(this->Window);
  this->LevelSpin->setValue(this->Level);
  const double span = this->DataMax - this->DataMin;
  this->WindowSlider->setValue(static_cast<int>(std::lround(this->Window / (2.0 * span) * SliderSteps)));
  this->LevelSlider->setValue(static_cast<int>(std::lround((this->Level - this->DataMin) / span * SliderSteps)));
}

void
qMedGenPreviewGrid::Private::updateButtons()
{
  const bool sampling = this->SamplingTimer.isActive();
  this->NewSeedButton->setEnabled(this->Logic && !sampling);
  if (!sampling)
    this->NewSeedButton->setText(tr("New seed"));
  this->AddButton->setEnabled(this->Count > 0);
  this->AddButton->setText(this->Selected >= 0 ? tr("Add image %1 to scene").arg(this->Selected + 1)
                                               : tr("Add all to scene"));
  this->ExportButton->setEnabled(this->ShowingSamples && !sampling);
  this->WindowSpin->setEnabled(this->Count > 0);
  this->LevelSpin->setEnabled(this->Count > 0);
  this->WindowSlider->setEnabled(this->Count > 0);
  this->LevelSlider->setEnabled(this->Count > 0);
}

void
qMedGenPreviewGrid::Private::showSlices(vtkImageData *slices, const QString &origin, bool samples)
{
  this->Origin = origin;
  this->ShowingSamples = samples;
  this->Selected = -1;
  this->Slices = vtkSmartPointer<vtkImageData>::New();
  vtkDataArray *scalars = slices ? slices->GetPointData()->GetScalars() : nullptr;
  int dimensions[3] = { 0, 0, 0 };
  if (scalars)
  {
    this->Slices->DeepCopy(slices);
    slices->GetDimensions(dimensions);
  }
  const int previousCount = this->Count;
  this->Width = dimensions[0];
  this->Height = dimensions[1];
  this->Count = dimensions[2];
  const vtkIdType voxels = scalars ? scalars->GetNumberOfTuples() : 0;
  this->Values.resize(static_cast<size_t>(voxels));
  for (vtkIdType voxel = 0; voxel < voxels; ++voxel)
    this->Values[voxel] = static_cast<float>(scalars->GetComponent(voxel, 0));

  // Window/level from the 1st and 99th percentiles of the finite values (a few hot pixels do not wash out the rest).
  std::vector<float> sorted;
  sorted.reserve(this->Values.size());
  std::copy_if(this->Values.begin(), this->Values.end(), std::back_inserter(sorted),
               [](float value) { return std::isfinite(value); });
  if (!sorted.empty())
  {
    auto percentile = [&sorted](double fraction) {
      auto at = sorted.begin() + static_cast<std::ptrdiff_t>(fraction * (sorted.size() - 1));
      std::nth_element(sorted.begin(), at, sorted.end());
      return static_cast<double>(*at);
    };
    const double low = percentile(0.01), high = percentile(0.99);
    this->DataMin = *std::min_element(sorted.begin(), sorted.end());
    this->DataMax = *std::max_element(sorted.begin(), sorted.end());
    if (this->DataMax <= this->DataMin)
      this->DataMax = this->DataMin + 1.0;
    this->Window = high > low ? high - low : this->DataMax - this->DataMin;
    this->Level = high > low ? (high + low) / 2.0 : this->DataMin + this->Window / 2.0;
  }
  const double span = this->DataMax - this->DataMin;
  for (QDoubleSpinBox *spin : { this->WindowSpin, this->LevelSpin })
  {
    const QSignalBlocker block(spin); // a value clamped to the new range must not overwrite Window and Level
    spin->setDecimals(DecimalsFor(span));
    spin->setSingleStep(span / 100.0);
    if (spin == this->WindowSpin)
      spin->setRange(span * 1e-4, span * 10.0);
    else
      spin->setRange(this->DataMin - span, this->DataMax + span);
  }

  if (this->Count != previousCount)
    this->buildTiles();
  this->renderTiles();
  this->showWindowLevel();
  this->Caption->setText(origin.isEmpty() ? tr("Synthetic images") : tr("Synthetic images: %1").arg(origin));
  this->updateButtons();
}

void
qMedGenPreviewGrid::Private::pollSampling()
{
  double progress = 0.0;
  const vtkMedGenLogic::JobState state = this->Logic->PollSampling(&progress);
  if (state == vtkMedGenLogic::Running)
  {
    this->NewSeedButton->setText(tr("Sampling %1%").arg(static_cast<int>(progress * 100.0)));
    return;
  }
  this->SamplingTimer.stop();
  bool ok = false;
  if (state == vtkMedGenLogic::Finished)
  {
    auto samples = vtkSmartPointer<vtkImageData>::New();
    std::string fileName;
    ok = this->Logic->LoadSamples(samples, &fileName);
    if (ok)
    {
      const QString classText = this->SamplingClass.isEmpty() ? QString() : tr(", class %1").arg(this->SamplingClass);
      this->showSlices(samples, tr("seed %1%2").arg(this->Seed).arg(classText), true);
      this->Status->setText(tr("Seed %1: %2 synthetic images in %3 (marked synthetic).")
                              .arg(this->Seed)
                              .arg(this->Count)
                              .arg(QString::fromStdString(fileName)));
    }
    else
      this->Status->setText(
        tr("Could not load the samples: %1").arg(QString::fromStdString(this->Logic->GetErrorText())));
  }
  else
    this->Status->setText(state == vtkMedGenLogic::Cancelled
                            ? tr("Sampling was cancelled.")
                            : tr("Sampling failed: %1").arg(QString::fromStdString(this->Logic->GetErrorText())));
  this->updateButtons();
  emit q->samplingFinished(ok);
}

qMedGenPreviewGrid::qMedGenPreviewGrid(QWidget *parent)
  : QWidget(parent)
  , d(new Private)
{
  qRegisterMetaType<std::vector<int>>("std::vector<int>");
  d->q = this;

  d->Caption = new QLabel(tr("Synthetic images"));
  QFont captionFont = d->Caption->font();
  captionFont.setBold(true);
  d->Caption->setFont(captionFont);
  d->TileArea = new QWidget;
  d->TileLayout = new QGridLayout(d->TileArea);
  d->TileLayout->setSpacing(2);
  d->TileLayout->setContentsMargins(0, 0, 0, 0);

  d->WindowSpin = new QDoubleSpinBox;
  d->WindowSpin->setObjectName(QStringLiteral("WindowSpinBox"));
  d->LevelSpin = new QDoubleSpinBox;
  d->LevelSpin->setObjectName(QStringLiteral("LevelSpinBox"));
  d->WindowSlider = new QSlider(Qt::Horizontal);
  d->LevelSlider = new QSlider(Qt::Horizontal);
  for (QSlider *slider : { d->WindowSlider, d->LevelSlider })
    slider->setRange(0, SliderSteps);
  d->WindowSpin->setToolTip(tr("Window: the range of values from black to white, in the images' units"));
  d->LevelSpin->setToolTip(tr("Level: the value shown mid-grey"));
  d->SmoothCheck = new QCheckBox(tr("Smooth"));
  d->SmoothCheck->setToolTip(tr("Interpolate when enlarging (off: every model pixel stays a visible square)"));
  auto *windowLevel = new QGridLayout;
  windowLevel->addWidget(new QLabel(tr("Window")), 0, 0);
  windowLevel->addWidget(d->WindowSlider, 0, 1);
  windowLevel->addWidget(d->WindowSpin, 0, 2);
  windowLevel->addWidget(new QLabel(tr("Level")), 1, 0);
  windowLevel->addWidget(d->LevelSlider, 1, 1);
  windowLevel->addWidget(d->LevelSpin, 1, 2);
  windowLevel->addWidget(d->SmoothCheck, 0, 3);

  d->ClassPicker = new QComboBox;
  d->ClassPicker->setObjectName(QStringLiteral("ClassComboBox"));
  d->ClassPicker->setToolTip(tr("The class New seed draws (models trained with a label map)"));
  d->NewSeedButton = new QPushButton(tr("New seed"));
  d->NewSeedButton->setToolTip(tr("Draw %1 new synthetic images from the model with the next seed").arg(SampleCount));
  d->AddButton = new QPushButton(tr("Add all to scene"));
  d->AddButton->setToolTip(tr("A synthetic volume on the training volume's grid: the selected image, or all"));
  d->ExportButton = new QPushButton(tr("Export..."));
  d->ExportButton->setToolTip(tr("Save the samples shown (NRRD or MetaImage, marked synthetic)"));
  auto *sampling = new QHBoxLayout;
  sampling->addWidget(new QLabel(tr("Class")));
  sampling->addWidget(d->ClassPicker, 1);
  sampling->addWidget(d->NewSeedButton);
  auto *output = new QHBoxLayout;
  output->addWidget(d->AddButton);
  output->addWidget(d->ExportButton);

  d->Status = new QLabel;
  d->Status->setWordWrap(true);
  d->Status->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto *layout = new QVBoxLayout(this);
  layout->addWidget(d->Caption);
  layout->addWidget(d->TileArea, 0, Qt::AlignLeft);
  layout->addLayout(windowLevel);
  layout->addLayout(sampling);
  layout->addLayout(output);
  layout->addWidget(d->Status);
  layout->addStretch(1);

  connect(d->WindowSpin, QOverload<double>::of(&QDoubleSpinBox::valueChanged), this,
          [this](double window) { this->setWindowLevel(window, d->Level); });
  connect(d->LevelSpin, QOverload<double>::of(&QDoubleSpinBox::valueChanged), this,
          [this](double level) { this->setWindowLevel(d->Window, level); });
  connect(d->WindowSlider, &QSlider::valueChanged, this,
          [this](int position) { this->setWindowLevel(d->windowOfSlider(position), d->Level); });
  connect(d->LevelSlider, &QSlider::valueChanged, this,
          [this](int position) { this->setWindowLevel(d->Window, d->levelOfSlider(position)); });
  connect(d->SmoothCheck, &QCheckBox::toggled, this, &qMedGenPreviewGrid::setSmoothPixels);
  connect(d->NewSeedButton, &QPushButton::clicked, this, &qMedGenPreviewGrid::sampleNewSeed);
  connect(d->AddButton, &QPushButton::clicked, this, [this]() {
    std::vector<int> picks;
    if (d->Selected >= 0)
      picks.push_back(d->Selected);
    else
      for (int index = 0; index < d->Count; ++index)
        picks.push_back(index);
    emit addToSceneRequested(picks);
  });
  connect(d->ExportButton, &QPushButton::clicked, this, &qMedGenPreviewGrid::exportSamples);
  d->SamplingTimer.setInterval(250);
  connect(&d->SamplingTimer, &QTimer::timeout, this, [this]() { d->pollSampling(); });

  this->updateClasses();
  d->updateButtons();
}

qMedGenPreviewGrid::~qMedGenPreviewGrid()
{
  if (d->SamplingTimer.isActive()) // nobody would load its samples
    d->Logic->CancelSampling();
  delete d;
}

void
qMedGenPreviewGrid::setLogic(vtkMedGenLogic *logic)
{
  if (d->SamplingTimer.isActive())
  {
    d->SamplingTimer.stop();
    d->Logic->CancelSampling();
  }
  d->Logic = logic;
  this->updateClasses();
  d->updateButtons();
}

void
qMedGenPreviewGrid::setSlices(vtkImageData *slices)
{
  d->showSlices(slices, QString(), false);
}

vtkImageData *
qMedGenPreviewGrid::slices() const
{
  return d->Slices;
}

int
qMedGenPreviewGrid::sliceCount() const
{
  return d->Count;
}

void
qMedGenPreviewGrid::setWindowLevel(double window, double level)
{
  if (!(window > 0.0) || !std::isfinite(level))
    return;
  d->Window = window;
  d->Level = level;
  d->showWindowLevel();
  d->renderTiles();
}

double
qMedGenPreviewGrid::window() const
{
  return d->Window;
}

double
qMedGenPreviewGrid::level() const
{
  return d->Level;
}

int
qMedGenPreviewGrid::selectedIndex() const
{
  return d->Selected;
}

void
qMedGenPreviewGrid::setSelectedIndex(int index)
{
  d->Selected = index >= 0 && index < d->Count ? index : -1;
  for (int tile = 0; tile < d->Count; ++tile)
  {
    d->Tiles[tile]->Selected = tile == d->Selected;
    d->Tiles[tile]->update();
  }
  d->updateButtons();
}

QString
qMedGenPreviewGrid::className() const
{
  return d->ClassPicker->currentIndex() > 0 ? d->ClassPicker->currentText() : QString();
}

void
qMedGenPreviewGrid::updateClasses()
{
  const QString previous = this->className();
  d->ClassPicker->clear();
  d->ClassPicker->addItem(tr("(none)"));
  if (d->Logic)
    for (const std::string &name : d->Logic->GetClassNames())
      d->ClassPicker->addItem(QString::fromStdString(name));
  d->ClassPicker->setEnabled(d->ClassPicker->count() > 1);
  const int kept = d->ClassPicker->findText(previous);
  d->ClassPicker->setCurrentIndex(kept > 0 ? kept : 0);
}

void
qMedGenPreviewGrid::setSmoothPixels(bool smooth)
{
  d->Smooth = smooth;
  const QSignalBlocker block(d->SmoothCheck);
  d->SmoothCheck->setChecked(smooth);
  d->renderTiles();
}

int
qMedGenPreviewGrid::seed() const
{
  return d->Seed;
}

QString
qMedGenPreviewGrid::origin() const
{
  return d->Origin;
}

bool
qMedGenPreviewGrid::isSampling() const
{
  return d->SamplingTimer.isActive();
}

bool
qMedGenPreviewGrid::loadTrainingPreview()
{
  if (!d->Logic)
  {
    d->Status->setText(tr("No logic: nothing to preview."));
    return false;
  }
  auto preview = vtkSmartPointer<vtkImageData>::New();
  if (!d->Logic->LoadTrainingPreview(preview))
  {
    d->Status->setText(tr("No training preview to show: %1").arg(QString::fromStdString(d->Logic->GetErrorText())));
    return false;
  }
  this->updateClasses();
  d->showSlices(preview, tr("training preview (seed 1)"), false);
  d->Status->setText(tr("The newest training preview."));
  return true;
}

void
qMedGenPreviewGrid::sampleNewSeed()
{
  if (!d->Logic || d->SamplingTimer.isActive())
    return;
  vtkMedGenLogic::SamplingSettings settings;
  settings.count = SampleCount;
  settings.seed = d->Seed + 1;
  settings.className = this->className().toStdString();
  if (!d->Logic->StartSampling(settings))
  {
    d->Status->setText(tr("Sampling did not start: %1").arg(QString::fromStdString(d->Logic->GetErrorText())));
    return;
  }
  d->Seed = settings.seed;
  d->SamplingClass = this->className();
  d->Status->setText(tr("Drawing %1 synthetic images with seed %2...").arg(SampleCount).arg(d->Seed));
  d->SamplingTimer.start();
  d->NewSeedButton->setText(tr("Sampling 0%"));
  d->updateButtons();
}

void
qMedGenPreviewGrid::exportSamples()
{
  const QString path = QFileDialog::getSaveFileName(
    this, tr("Export synthetic images"), QStringLiteral("synthetic_seed%1.nrrd").arg(d->Seed),
    tr("NRRD (*.nrrd *.nhdr);;MetaImage (*.mha *.mhd)"));
  if (!path.isEmpty())
    this->exportSamplesTo(path);
}

bool
qMedGenPreviewGrid::exportSamplesTo(const QString &path)
{
  if (!d->Logic)
  {
    d->Status->setText(tr("No logic: nothing to export."));
    return false;
  }
  if (!d->Logic->ExportSamples(path.toStdString()))
  {
    d->Status->setText(tr("Export failed: %1").arg(QString::fromStdString(d->Logic->GetErrorText())));
    return false;
  }
  d->Status->setText(tr("Exported the samples of seed %1 to %2 (marked synthetic).").arg(d->Seed).arg(path));
  return true;
}

int
qMedGenPreviewGrid::tileCount() const
{
  return static_cast<int>(d->Tiles.size());
}

QWidget *
qMedGenPreviewGrid::tileWidget(int index) const
{
  return index >= 0 && index < static_cast<int>(d->Tiles.size()) ? d->Tiles[index] : nullptr;
}

QPushButton *
qMedGenPreviewGrid::newSeedButton() const
{
  return d->NewSeedButton;
}

QPushButton *
qMedGenPreviewGrid::addToSceneButton() const
{
  return d->AddButton;
}

QPushButton *
qMedGenPreviewGrid::exportButton() const
{
  return d->ExportButton;
}

QString
qMedGenPreviewGrid::statusText() const
{
  return d->Status->text();
}
