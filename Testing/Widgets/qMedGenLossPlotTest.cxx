// qMedGenLossPlotTest: which points the loss plot keeps (NaN and infinities skipped), when its loss axis turns
// logarithmic, and that it paints: the curve in the highlight colour, a labelled frame when empty, one point.
#include <QTest>

#include <cmath>
#include <limits>

#include "qMedGenLossPlot.h"

namespace
{

// Pixels of colour in image.
int
CountPixels(const QImage &image, const QColor &colour)
{
  int count = 0;
  for (int y = 0; y < image.height(); ++y)
    for (int x = 0; x < image.width(); ++x)
      if (image.pixelColor(x, y) == colour)
        ++count;
  return count;
}

// Pixels of the curve: everything else (frame, grid, labels) is grey, the curve is the highlight colour, blended
// with the background at its antialiased edges.
int
CountCurvePixels(const QImage &image)
{
  int count = 0;
  for (int y = 0; y < image.height(); ++y)
    for (int x = 0; x < image.width(); ++x)
      if (image.pixelColor(x, y).hsvSaturation() > 60)
        ++count;
  return count;
}

std::vector<std::pair<long, double>>
DecayingLoss(long steps, double first, double last)
{
  std::vector<std::pair<long, double>> points;
  for (long step = 1; step <= steps; ++step)
    points.emplace_back(step, first * std::pow(last / first, (step - 1.0) / (steps - 1.0)));
  return points;
}

} // namespace

class qMedGenLossPlotTest : public QObject
{
  Q_OBJECT

private slots:
  void keepsFinitePoints()
  {
    qMedGenLossPlot plot;
    QCOMPARE(plot.pointCount(), 0);
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    plot.setPoints({ { 1, 0.9 }, { 2, nan }, { 3, inf }, { 4, 0.7 }, { 5, -inf }, { 6, 0.6 } });
    QCOMPARE(plot.pointCount(), 3);
    plot.setPoints(DecayingLoss(250, 1.0, 0.5));
    QCOMPARE(plot.pointCount(), 250);
    plot.clear();
    QCOMPARE(plot.pointCount(), 0);
  }

  void logScaleBeyondADecade()
  {
    qMedGenLossPlot plot;
    QVERIFY(!plot.isLogScale());
    plot.setPoints(DecayingLoss(100, 2.0, 0.3)); // under a decade
    QVERIFY(!plot.isLogScale());
    plot.setPoints(DecayingLoss(100, 2.0, 0.1)); // 20 times
    QVERIFY(plot.isLogScale());
    plot.setPoints({ { 1, 5.0 }, { 2, 0.0 }, { 3, 0.01 } }); // zero cannot go on a log axis
    QVERIFY(!plot.isLogScale());
    plot.setPoints({ { 1, -3.0 }, { 2, 0.5 } });
    QVERIFY(!plot.isLogScale());
  }

  void drawsTheCurve()
  {
    qMedGenLossPlot plot;
    plot.resize(360, 180);
    QVERIFY(plot.palette().color(QPalette::Highlight).hsvSaturation() > 60);
    const QColor background = plot.palette().color(QPalette::Base);

    const QImage empty = plot.grab().toImage();
    QCOMPARE(empty.size(), QSize(360, 180));
    QVERIFY(CountPixels(empty, background) < empty.width() * empty.height()); // frame and labels
    QCOMPARE(CountCurvePixels(empty), 0);

    for (const auto &points : { DecayingLoss(200, 1.5, 0.4), DecayingLoss(200, 5.0, 0.01) })
    {
      plot.setPoints(points);
      const QImage drawn = plot.grab().toImage();
      QVERIFY(drawn != empty);
      // The curve crosses most of the plot's width: at least one pixel of it per column there.
      QVERIFY2(CountCurvePixels(drawn) > plot.width() / 2,
               qPrintable(QString("%1 curve pixels").arg(CountCurvePixels(drawn))));
    }

    plot.setPoints({ { 7, 0.25 } }); // one point: a dot, and axes around a single step and value
    QVERIFY(CountCurvePixels(plot.grab().toImage()) > 0);
  }

  void smallAndHugeSizesPaint()
  {
    qMedGenLossPlot plot;
    plot.setPoints(DecayingLoss(20000, 3.0, 1e-4));
    plot.setMinimumSize(0, 0); // smaller than it allows in a layout: it draws nothing but must not fail
    for (const QSize size : { QSize(20, 10), QSize(200, 120), QSize(1600, 900) })
    {
      plot.resize(size);
      QCOMPARE(plot.grab().size(), size);
    }
  }
};

QTEST_MAIN(qMedGenLossPlotTest)
#include "qMedGenLossPlotTest.moc"
