// medgenCLI: what the Slicer CLI modules (MedGenTrain, MedGenSample) share. GenerateCLP is not available, so each
// program describes its parameters once, in a Description table, and both its `--xml` answer (Slicer's CLI module
// description) and its argument parser come from that table.
//
// Command line, as Slicer builds it: `--name value` for every parameter that has a value, `--name` alone for a
// boolean that is true (Slicer never passes a false boolean, so every boolean defaults to false). `--xml` prints the
// description, `--help` a plain help; an unknown flag, a missing value, a malformed or out-of-range number, an
// unknown enumeration element or a missing required parameter is refused with a message on stderr and exit 1.
//
// Progress follows Slicer's protocol on stdout, one flushed line per report: <filter-start>, <filter-name>,
// <filter-comment>, <filter-progress>x</filter-progress> (x rising to 1), <filter-end>.
#ifndef medgenCLI_h
#define medgenCLI_h

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "itkProcessObject.h"

namespace medgen
{
namespace cli
{

enum class ParameterType
{
  Integer,
  Double,
  Boolean,
  String,
  StringEnumeration,
  File,
  Directory,
  Image
};

enum class Channel
{
  None, // integer, double, boolean, string-enumeration
  Input,
  Output
};

// One parameter: its XML element, its flag (--name) and its checks.
struct Parameter
{
  ParameterType type{};
  std::string name; // the XML name and the long flag
  std::string label;
  std::string description;
  std::string defaultValue;            // "" for none (files, images, directories)
  Channel channel = Channel::None;     // file, directory, image
  bool required = false;               // refused when absent (Slicer's XML has no such attribute; the help shows it)
  bool labelMap = false;               // image type="label"
  std::string fileExtensions;          // file: e.g. ".safetensors"
  std::vector<std::string> elements;   // string-enumeration
  bool constrained = false;            // integer, double: [minimum, maximum] in steps of step
  double minimum = 0, maximum = 0, step = 1;
};

// Parameters of each kind, with the fields that kind uses.
Parameter IntegerParameter(const std::string &name, const std::string &label, const std::string &description,
                           long defaultValue, long minimum, long maximum);
Parameter DoubleParameter(const std::string &name, const std::string &label, const std::string &description,
                          double defaultValue, double minimum, double maximum, double step);
Parameter BooleanParameter(const std::string &name, const std::string &label, const std::string &description);
Parameter StringParameter(const std::string &name, const std::string &label, const std::string &description);
Parameter EnumerationParameter(const std::string &name, const std::string &label, const std::string &description,
                               const std::vector<std::string> &elements); // the first element is the default
// File, directory or image paths.
Parameter PathParameter(ParameterType type, const std::string &name, const std::string &label,
                        const std::string &description, Channel channel, bool required);

struct ParameterGroup
{
  std::string label;
  std::string description;
  bool advanced = false;
  std::vector<Parameter> parameters;
};

struct Description
{
  std::string executable; // the program's name, for messages and the help
  std::string category, title, description, version, documentationUrl, license, contributor, acknowledgements;
  std::vector<ParameterGroup> groups;
};

// A description with what every MedGen module shares filled in: category "Image Synthesis", version, documentation
// URL, license, contributor, acknowledgements.
Description MedGenDescription(const std::string &executable, const std::string &title, const std::string &text);

// The parsed command line: every parameter's value, defaults filled in ("" where absent and without a default).
class Arguments
{
public:
  const std::string &String(const std::string &name) const;
  long Integer(const std::string &name) const;
  double Double(const std::string &name) const;
  bool Boolean(const std::string &name) const;

private:
  friend bool Parse(const Description &, const std::vector<std::string> &, Arguments &, std::string &);
  std::map<std::string, std::string> m_Values;
};

// Slicer's CLI module description (starts with <?xml ...?>).
std::string XmlDescription(const Description &description);
// A plain help: usage, then each group's flags with their type, default, range or elements, and description.
std::string HelpText(const Description &description);
// Parses args (argv without the program name) into arguments; false with the reason in error.
bool Parse(const Description &description, const std::vector<std::string> &args, Arguments &arguments,
           std::string &error);

// The program's main: --xml and --help print and return 0; otherwise parses and calls run. A bad argument, or an
// exception out of run (itk::ExceptionObject or std::exception), prints "<executable>: <message>" on stderr and
// returns 1.
int Main(const Description &description, int argc, char **argv, const std::function<void(const Arguments &)> &run);

// Slicer's progress lines. Progress is printed only when it rises by at least 0.001 (and always at 1), so a filter
// reporting every step does not flood the pipe.
class ProgressPrinter
{
public:
  void Start(const std::string &name, const std::string &comment);
  void Comment(const std::string &comment);
  void Progress(double fraction);
  void End();
  // Prints filter's ProgressEvents, mapped from [0, 1] to [start, end] of the whole job.
  void Watch(itk::ProcessObject *filter, double start = 0.0, double end = 1.0);

private:
  std::string m_Name;
  double m_Last{ -1.0 };
  std::chrono::steady_clock::time_point m_Started;
};

} // namespace cli
} // namespace medgen

#endif
