// qSlicerMedGenModule: the MedGen loadable module's description for Slicer (title, category, help, contributors,
// icon) and the factories of its widget and logic. The work happens in vtkSlicerMedGenLogic and the widgets.
#ifndef qSlicerMedGenModule_h
#define qSlicerMedGenModule_h

#include "qSlicerLoadableModule.h"

#include "qSlicerMedGenModuleExport.h"

class Q_SLICER_QTMODULES_MEDGEN_EXPORT qSlicerMedGenModule : public qSlicerLoadableModule
{
  Q_OBJECT
  Q_PLUGIN_METADATA(IID "org.slicer.modules.loadable.qSlicerLoadableModule/1.0");
  Q_INTERFACES(qSlicerLoadableModule);

public:
  typedef qSlicerLoadableModule Superclass;
  explicit qSlicerMedGenModule(QObject *parent = nullptr);
  ~qSlicerMedGenModule() override;

  qSlicerGetTitleMacro(tr("MedGen"));

  QString helpText() const override;
  QString acknowledgementText() const override;
  QStringList contributors() const override;
  QIcon icon() const override;
  QStringList categories() const override;
  QStringList dependencies() const override;

protected:
  // Points the logic at the CLI modules beside this library and at its work folder.
  void setup() override;
  qSlicerAbstractModuleRepresentation *createWidgetRepresentation() override;
  vtkMRMLAbstractLogic *createLogic() override;

private:
  Q_DISABLE_COPY(qSlicerMedGenModule);
};

#endif
