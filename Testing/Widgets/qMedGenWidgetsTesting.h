// What the widget tests that train share: their command line (the CLI modules' folder, a scratch folder, the
// training volume, the screenshots folder, then QtTest's own options) and saving screenshots.
#ifndef qMedGenWidgetsTesting_h
#define qMedGenWidgetsTesting_h

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QTest>
#include <QWidget>

#include <cstdio>
#include <vector>

struct qMedGenTestArguments
{
  QString CLIDirectory; // MedGenTrain and MedGenSample
  QString Scratch;      // emptied at the start of the run
  QString Volume;       // the volume to train on; the tests that need it skip where it is absent
  QString Screenshots;  // the documentation's folder (Documentation/Screenshots in the source tree)
};

// main() of a test class constructed from qMedGenTestArguments.
template <class Test>
int
qMedGenRunTest(int argc, char **argv)
{
  QApplication application(argc, argv);
  if (argc < 5)
  {
    std::fprintf(stderr, "usage: %s CLI_DIRECTORY SCRATCH_DIRECTORY VOLUME SCREENSHOT_DIRECTORY [QtTest options]\n",
                 argv[0]);
    return 1;
  }
  const qMedGenTestArguments arguments{ argv[1], argv[2], argv[3], argv[4] };
  std::vector<char *> qtTestArguments{ argv[0] };
  qtTestArguments.insert(qtTestArguments.end(), argv + 5, argv + argc);
  Test test(arguments);
  return QTest::qExec(&test, static_cast<int>(qtTestArguments.size()), qtTestArguments.data());
}

// Saves widget's picture as name (a .png) into the scratch folder, which must work, and into the screenshots
// folder, where a read-only source tree only warns.
inline bool
qMedGenSaveScreenshot(QWidget *widget, const QString &name, const qMedGenTestArguments &arguments)
{
  const QPixmap picture = widget->grab();
  if (!picture.save(QDir(arguments.Scratch).filePath(name)))
    return false;
  if (!QDir().mkpath(arguments.Screenshots) || !picture.save(QDir(arguments.Screenshots).filePath(name)))
    qWarning("%s: cannot save %s there", qPrintable(arguments.Screenshots), qPrintable(name));
  return true;
}

#endif
