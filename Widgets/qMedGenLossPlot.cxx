// qMedGenLossPlot: the training loss over steps, drawn with QPainter: a frame with tick labels on both axes, light
// grid lines, the curve, and the newest value above the plot. The loss axis turns logarithmic (ticks at powers of
// ten) when every value is positive and they span more than a decade, as a training loss usually does early on.
#include "qMedGenLossPlot.h"

#include <QPaintEvent>
#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>

namespace
{

// An axis: the value range it shows and where its ticks go.
struct Axis
{
  double low = 0.0, high = 1.0;
  bool logarithmic = false;
  std::vector<double> ticks;

  // 0 at low, 1 at high (in log10 on a logarithmic axis).
  double fraction(double value) const
  {
    if (this->logarithmic)
      return (std::log10(value) - std::log10(this->low)) / (std::log10(this->high) - std::log10(this->low));
    return (value - this->low) / (this->high - this->low);
  }
};

// The smallest tick spacing of 1, 2 or 5 times a power of ten that cuts range into at most wanted parts (widening
// the range to whole ticks may add one at each end).
double
NiceStep(double range, int wanted)
{
  const double rough = range / wanted;
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  const double residual = rough / magnitude;
  if (residual <= 1.0)
    return magnitude;
  if (residual <= 2.0)
    return 2.0 * magnitude;
  if (residual <= 5.0)
    return 5.0 * magnitude;
  return 10.0 * magnitude;
}

// A linear axis around [low, high], widened to whole ticks; a single value gets a range around it.
Axis
LinearAxis(double low, double high, int wantedTicks)
{
  if (high - low <= std::abs(high) * 1e-9)
  {
    const double half = low != 0.0 ? std::abs(low) * 0.5 : 0.5;
    low -= half;
    high += half;
  }
  const double step = NiceStep(high - low, wantedTicks);
  Axis axis;
  axis.low = std::floor(low / step) * step;
  axis.high = std::ceil(high / step) * step;
  for (double tick = axis.low; tick <= axis.high + step * 0.5; tick += step)
    axis.ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
  return axis;
}

// A logarithmic axis from the power of ten below low to the one above high; ticks at every power of ten, or every
// second, third... when there are more decades than wantedTicks.
Axis
LogAxis(double low, double high, int wantedTicks)
{
  Axis axis;
  axis.logarithmic = true;
  const int lowDecade = static_cast<int>(std::floor(std::log10(low)));
  const int highDecade = static_cast<int>(std::ceil(std::log10(high)));
  axis.low = std::pow(10.0, lowDecade);
  axis.high = std::pow(10.0, highDecade);
  const int stride = std::max(1, (highDecade - lowDecade + wantedTicks - 1) / wantedTicks);
  for (int decade = lowDecade; decade <= highDecade; decade += stride)
    axis.ticks.push_back(std::pow(10.0, decade));
  return axis;
}

QString
TickLabel(double value)
{
  return QString::number(value, 'g', 3);
}

} // namespace

qMedGenLossPlot::qMedGenLossPlot(QWidget *parent)
  : QWidget(parent)
{
  this->setMinimumSize(200, 140);
  this->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

void
qMedGenLossPlot::setPoints(const std::vector<std::pair<long, double>> &points)
{
  this->Points.clear();
  this->Points.reserve(points.size());
  for (const auto &point : points)
    if (std::isfinite(point.second))
      this->Points.push_back(point);
  this->update();
}

void
qMedGenLossPlot::clear()
{
  this->Points.clear();
  this->update();
}

int
qMedGenLossPlot::pointCount() const
{
  return static_cast<int>(this->Points.size());
}

bool
qMedGenLossPlot::isLogScale() const
{
  if (this->Points.empty())
    return false;
  const auto [lowest, highest] = std::minmax_element(
    this->Points.begin(), this->Points.end(), [](const auto &a, const auto &b) { return a.second < b.second; });
  return lowest->second > 0.0 && highest->second > 10.0 * lowest->second;
}

QSize
qMedGenLossPlot::sizeHint() const
{
  return QSize(360, 180);
}

void
qMedGenLossPlot::paintEvent(QPaintEvent *)
{
  QPainter painter(this);
  painter.fillRect(this->rect(), this->palette().color(QPalette::Base));
  const QColor textColor = this->palette().color(QPalette::Text);
  const QFontMetrics metrics = painter.fontMetrics();
  const int lineHeight = metrics.height();

  // As many ticks as fit without their labels touching.
  const int plotTop = lineHeight + 6, plotHeight = this->height() - 3 * lineHeight - 12;
  const int lossTicks = std::clamp(plotHeight / (2 * lineHeight), 2, 5);
  const long lastStep = this->Points.empty() ? 100 : this->Points.back().first;
  const int stepLabelWidth = metrics.horizontalAdvance(QString::number(lastStep));
  const int stepTicks = std::clamp(this->width() / (3 * stepLabelWidth + 10), 2, 6);
  Axis lossAxis, stepAxis;
  if (!this->Points.empty())
  {
    const auto [lowest, highest] = std::minmax_element(
      this->Points.begin(), this->Points.end(), [](const auto &a, const auto &b) { return a.second < b.second; });
    lossAxis = this->isLogScale() ? LogAxis(lowest->second, highest->second, lossTicks)
                                  : LinearAxis(lowest->second, highest->second, lossTicks);
    stepAxis = LinearAxis(static_cast<double>(this->Points.front().first), static_cast<double>(lastStep), stepTicks);
  }
  else
  {
    lossAxis = LinearAxis(0.0, 1.0, lossTicks);
    stepAxis = LinearAxis(0.0, static_cast<double>(lastStep), stepTicks);
  }

  int labelWidth = 0;
  for (double tick : lossAxis.ticks)
    labelWidth = std::max(labelWidth, metrics.horizontalAdvance(TickLabel(tick)));
  const QRect plotArea(labelWidth + 10, plotTop, this->width() - labelWidth - 22, plotHeight);
  if (plotArea.width() < 10 || plotArea.height() < 10)
    return;
  auto xOf = [&](double step) { return plotArea.left() + stepAxis.fraction(step) * plotArea.width(); };
  auto yOf = [&](double loss) { return plotArea.bottom() - lossAxis.fraction(loss) * plotArea.height(); };

  // Grid lines and tick labels.
  const QColor gridColor = this->palette().color(QPalette::Mid).lighter(130);
  painter.setPen(QPen(gridColor, 1, Qt::DotLine));
  for (double tick : lossAxis.ticks)
    painter.drawLine(QPointF(plotArea.left(), yOf(tick)), QPointF(plotArea.right(), yOf(tick)));
  for (double tick : stepAxis.ticks)
    painter.drawLine(QPointF(xOf(tick), plotArea.top()), QPointF(xOf(tick), plotArea.bottom()));
  painter.setPen(textColor);
  for (double tick : lossAxis.ticks)
    painter.drawText(QRectF(0, yOf(tick) - lineHeight / 2.0, labelWidth + 4, lineHeight),
                     Qt::AlignRight | Qt::AlignVCenter, TickLabel(tick));
  for (double tick : stepAxis.ticks)
  {
    const QString label = TickLabel(tick);
    const double width = metrics.horizontalAdvance(label);
    painter.drawText(QRectF(xOf(tick) - width / 2.0 - 2, plotArea.bottom() + 3, width + 4, lineHeight),
                     Qt::AlignCenter, label);
  }
  painter.drawText(QRect(plotArea.left(), plotArea.bottom() + lineHeight + 4, plotArea.width(), lineHeight),
                   Qt::AlignHCenter, tr("step"));
  painter.drawText(QRect(plotArea.left(), 2, plotArea.width(), lineHeight), Qt::AlignLeft,
                   lossAxis.logarithmic ? tr("loss (log scale)") : tr("loss"));
  painter.drawRect(plotArea);

  if (this->Points.empty())
  {
    painter.drawText(plotArea, Qt::AlignCenter, tr("No loss values yet"));
    return;
  }
  const auto &newest = this->Points.back();
  painter.drawText(QRect(plotArea.left(), 2, plotArea.width(), lineHeight), Qt::AlignRight,
                   tr("step %1: %2").arg(newest.first).arg(newest.second, 0, 'g', 4));

  QPainterPath curve;
  curve.moveTo(xOf(static_cast<double>(this->Points.front().first)), yOf(this->Points.front().second));
  for (const auto &point : this->Points)
    curve.lineTo(xOf(static_cast<double>(point.first)), yOf(point.second));
  painter.setRenderHint(QPainter::Antialiasing);
  painter.setClipRect(plotArea);
  painter.setPen(QPen(this->palette().color(QPalette::Highlight), 1.5));
  painter.drawPath(curve);
  if (this->Points.size() == 1) // a path of one point draws nothing
    painter.drawEllipse(curve.currentPosition(), 2.0, 2.0);
}
