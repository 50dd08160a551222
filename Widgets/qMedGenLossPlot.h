// qMedGenLossPlot: the training loss as a line over steps, redrawn as points arrive (plain QPainter, no chart
// library). Log scale on the loss axis when the values span more than a decade; the newest value is printed.
#ifndef qMedGenLossPlot_h
#define qMedGenLossPlot_h

#include <QWidget>
#include <utility>
#include <vector>

class qMedGenLossPlot : public QWidget
{
  Q_OBJECT
public:
  explicit qMedGenLossPlot(QWidget *parent = nullptr);
  // Replaces the curve (step, loss); NaN and infinite losses are skipped.
  void setPoints(const std::vector<std::pair<long, double>> &points);
  void clear();
  int pointCount() const;
  // True when the loss axis is logarithmic: every loss positive and the largest more than 10 times the smallest.
  bool isLogScale() const;
  QSize sizeHint() const override;

protected:
  void paintEvent(QPaintEvent *event) override;

private:
  std::vector<std::pair<long, double>> Points;
};

#endif
