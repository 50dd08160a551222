// medgenCLI: one parameter table per program gives its Slicer XML description, its help and its parser.
#include "medgenCLI.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "itkMacro.h"
#include "medgen.h" // MEDGEN_VERSION_STRING

namespace medgen
{
namespace cli
{
namespace
{

const char *
TypeTag(ParameterType type)
{
  switch (type)
  {
    case ParameterType::Integer:
      return "integer";
    case ParameterType::Double:
      return "double";
    case ParameterType::Boolean:
      return "boolean";
    case ParameterType::String:
      return "string";
    case ParameterType::StringEnumeration:
      return "string-enumeration";
    case ParameterType::File:
      return "file";
    case ParameterType::Directory:
      return "directory";
    case ParameterType::Image:
      return "image";
  }
  return "";
}

std::string
Escape(const std::string &text)
{
  std::string out;
  for (char c : text)
  {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

// Numbers as people write them: integers without a decimal point, 0.1 not 0.10000000000000001.
std::string
Number(double value)
{
  char text[64];
  std::snprintf(text, sizeof text, "%.12g", value);
  return text;
}

std::string
Element(const std::string &indent, const std::string &tag, const std::string &value)
{
  return indent + "<" + tag + ">" + Escape(value) + "</" + tag + ">\n";
}

// The values a parameter accepts, for the help and for messages.
std::string
Accepted(const Parameter &p)
{
  switch (p.type)
  {
    case ParameterType::Integer:
      return p.constrained ? "an integer in [" + Number(p.minimum) + ", " + Number(p.maximum) + "]" : "an integer";
    case ParameterType::Double:
      return p.constrained ? "a number in [" + Number(p.minimum) + ", " + Number(p.maximum) + "]" : "a number";
    case ParameterType::StringEnumeration:
    {
      std::string list;
      for (const std::string &e : p.elements)
        list += (list.empty() ? "" : ", ") + e;
      return "one of " + list;
    }
    case ParameterType::Boolean:
      return "no value (present: true)";
    case ParameterType::String:
      return "a text";
    case ParameterType::File:
    case ParameterType::Directory:
    case ParameterType::Image:
      return std::string("a path to ") + (p.channel == Channel::Output ? "write" : "read");
  }
  return "";
}

bool
ValueAccepted(const Parameter &p, const std::string &value)
{
  switch (p.type)
  {
    case ParameterType::Integer:
    {
      char *end;
      errno = 0;
      const long parsed = std::strtol(value.c_str(), &end, 10);
      const long lo = p.constrained ? static_cast<long>(p.minimum) : std::numeric_limits<long>::min();
      const long hi = p.constrained ? static_cast<long>(p.maximum) : std::numeric_limits<long>::max();
      return !errno && end != value.c_str() && !*end && parsed >= lo && parsed <= hi;
    }
    case ParameterType::Double:
    {
      char *end;
      errno = 0;
      const double parsed = std::strtod(value.c_str(), &end);
      const double lo = p.constrained ? p.minimum : -std::numeric_limits<double>::max();
      const double hi = p.constrained ? p.maximum : std::numeric_limits<double>::max();
      return !errno && end != value.c_str() && !*end && parsed >= lo && parsed <= hi;
    }
    case ParameterType::StringEnumeration:
      for (const std::string &e : p.elements)
        if (value == e)
          return true;
      return false;
    case ParameterType::Boolean:
      return false; // a boolean is a flag without a value
    case ParameterType::String:
      return true;
    case ParameterType::File:
    case ParameterType::Directory:
    case ParameterType::Image:
      return !value.empty();
  }
  return false;
}

const Parameter *
Find(const Description &description, const std::string &name)
{
  for (const ParameterGroup &group : description.groups)
    for (const Parameter &p : group.parameters)
      if (p.name == name)
        return &p;
  return nullptr;
}

Parameter
Make(ParameterType type, const std::string &name, const std::string &label, const std::string &description,
     const std::string &defaultValue)
{
  Parameter p;
  p.type = type;
  p.name = name;
  p.label = label;
  p.description = description;
  p.defaultValue = defaultValue;
  return p;
}

} // namespace

Parameter
IntegerParameter(const std::string &name, const std::string &label, const std::string &description,
                 long defaultValue, long minimum, long maximum)
{
  Parameter p = Make(ParameterType::Integer, name, label, description, std::to_string(defaultValue));
  p.constrained = true;
  p.minimum = static_cast<double>(minimum);
  p.maximum = static_cast<double>(maximum);
  return p;
}

Parameter
DoubleParameter(const std::string &name, const std::string &label, const std::string &description,
                double defaultValue, double minimum, double maximum, double step)
{
  Parameter p = Make(ParameterType::Double, name, label, description, Number(defaultValue));
  p.constrained = true;
  p.minimum = minimum;
  p.maximum = maximum;
  p.step = step;
  return p;
}

Parameter
BooleanParameter(const std::string &name, const std::string &label, const std::string &description)
{
  return Make(ParameterType::Boolean, name, label, description, "false");
}

Parameter
StringParameter(const std::string &name, const std::string &label, const std::string &description)
{
  return Make(ParameterType::String, name, label, description, "");
}

Parameter
EnumerationParameter(const std::string &name, const std::string &label, const std::string &description,
                     const std::vector<std::string> &elements)
{
  Parameter p = Make(ParameterType::StringEnumeration, name, label, description, elements.front());
  p.elements = elements;
  return p;
}

Parameter
PathParameter(ParameterType type, const std::string &name, const std::string &label, const std::string &description,
              Channel channel, bool required)
{
  Parameter p = Make(type, name, label, description, "");
  p.channel = channel;
  p.required = required;
  return p;
}

Description
MedGenDescription(const std::string &executable, const std::string &title, const std::string &text)
{
  Description d;
  d.executable = executable;
  d.category = "Image Synthesis";
  d.title = title;
  d.description = text + " Every image MedGen generates is marked synthetic in its metadata; synthetic images are "
                         "not for diagnosis.";
  d.version = MEDGEN_VERSION_STRING;
  d.documentationUrl = "https://github.com/medgen-project/MedGen/blob/main/SlicerMedGen/README.md";
  d.license = "Apache License 2.0";
  d.contributor = "MedGen developers";
  d.acknowledgements = "MedGen follows ITK's and 3D Slicer's conventions; its diffusion models follow MONAI's 2D "
                       "DDPM tutorial and its GANs DCGAN with spectral normalization and StyleGAN2-ADA's augmentation.";
  return d;
}

const std::string &
Arguments::String(const std::string &name) const
{
  const auto it = m_Values.find(name);
  if (it == m_Values.end())
    throw std::logic_error("no parameter named " + name); // a program asking for a parameter it does not declare
  return it->second;
}

long
Arguments::Integer(const std::string &name) const
{
  return std::stol(this->String(name));
}

double
Arguments::Double(const std::string &name) const
{
  return std::stod(this->String(name));
}

bool
Arguments::Boolean(const std::string &name) const
{
  return this->String(name) == "true";
}

std::string
XmlDescription(const Description &d)
{
  std::ostringstream xml;
  xml << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<executable>\n";
  xml << Element("  ", "category", d.category) << Element("  ", "title", d.title)
      << Element("  ", "description", d.description) << Element("  ", "version", d.version)
      << Element("  ", "documentation-url", d.documentationUrl) << Element("  ", "license", d.license)
      << Element("  ", "contributor", d.contributor) << Element("  ", "acknowledgements", d.acknowledgements);
  for (const ParameterGroup &group : d.groups)
  {
    xml << "  <parameters" << (group.advanced ? " advanced=\"true\"" : "") << ">\n";
    xml << Element("    ", "label", group.label) << Element("    ", "description", group.description);
    for (const Parameter &p : group.parameters)
    {
      const std::string tag = TypeTag(p.type);
      xml << "    <" << tag;
      if (p.labelMap)
        xml << " type=\"label\"";
      if (!p.fileExtensions.empty())
        xml << " fileExtensions=\"" << Escape(p.fileExtensions) << "\"";
      xml << ">\n";
      const std::string in = "      ";
      xml << Element(in, "name", p.name) << Element(in, "longflag", p.name) << Element(in, "label", p.label)
          << Element(in, "description", p.description);
      if (p.channel != Channel::None)
        xml << Element(in, "channel", p.channel == Channel::Input ? "input" : "output");
      if (!p.defaultValue.empty())
        xml << Element(in, "default", p.defaultValue);
      for (const std::string &e : p.elements)
        xml << Element(in, "element", e);
      if (p.constrained)
        xml << in << "<constraints>\n"
            << Element(in + "  ", "minimum", Number(p.minimum)) << Element(in + "  ", "maximum", Number(p.maximum))
            << Element(in + "  ", "step", Number(p.step)) << in << "</constraints>\n";
      xml << "    </" << tag << ">\n";
    }
    xml << "  </parameters>\n";
  }
  xml << "</executable>\n";
  return xml.str();
}

std::string
HelpText(const Description &d)
{
  std::ostringstream help;
  help << d.executable << " " << d.version << ": " << d.title << "\n" << d.description << "\n\nUsage: " << d.executable;
  for (const ParameterGroup &group : d.groups)
    for (const Parameter &p : group.parameters)
      if (p.required)
        help << " --" << p.name << " " << (p.type == ParameterType::Image ? "IMAGE" : "PATH");
  help << " [options]\n       " << d.executable << " --xml    (Slicer's CLI module description)\n";
  for (const ParameterGroup &group : d.groups)
  {
    help << "\n" << group.label << ":\n";
    for (const Parameter &p : group.parameters)
    {
      help << "  --" << p.name << "  " << TypeTag(p.type);
      if (p.labelMap)
        help << " (label map)";
      if (p.channel != Channel::None)
        help << ", " << (p.channel == Channel::Input ? "input" : "output");
      help << (p.required ? ", required" : "") << "; " << Accepted(p);
      if (!p.defaultValue.empty())
        help << "; default " << p.defaultValue;
      help << "\n      " << p.label << ": " << p.description << "\n";
    }
  }
  return help.str();
}

bool
Parse(const Description &description, const std::vector<std::string> &args, Arguments &arguments, std::string &error)
{
  arguments.m_Values.clear();
  for (const ParameterGroup &group : description.groups)
    for (const Parameter &p : group.parameters)
      arguments.m_Values[p.name] = p.defaultValue;
  std::map<std::string, bool> given;
  for (size_t i = 0; i < args.size(); ++i)
  {
    const std::string &arg = args[i];
    const Parameter *p = arg.compare(0, 2, "--") == 0 ? Find(description, arg.substr(2)) : nullptr;
    if (!p)
    {
      error = "unknown argument \"" + arg + "\"";
      return false;
    }
    if (given[p->name])
    {
      error = arg + " is given twice";
      return false;
    }
    given[p->name] = true;
    if (p->type == ParameterType::Boolean)
    {
      arguments.m_Values[p->name] = "true";
      continue;
    }
    if (i + 1 >= args.size())
    {
      error = arg + " needs a value (" + Accepted(*p) + ")";
      return false;
    }
    const std::string &value = args[++i];
    if (!ValueAccepted(*p, value))
    {
      error = arg + ": \"" + value + "\" is not " + Accepted(*p);
      return false;
    }
    arguments.m_Values[p->name] = value;
  }
  for (const ParameterGroup &group : description.groups)
    for (const Parameter &p : group.parameters)
      if (p.required && !given[p.name])
      {
        error = "--" + p.name + " is required (" + p.label + ")";
        return false;
      }
  return true;
}

int
Main(const Description &description, int argc, char **argv, const std::function<void(const Arguments &)> &run)
{
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string &arg : args)
  {
    if (arg == "--xml")
    {
      std::cout << XmlDescription(description) << std::flush;
      return 0;
    }
    if (arg == "--help" || arg == "-h")
    {
      std::cout << HelpText(description) << std::flush;
      return 0;
    }
  }
  Arguments arguments;
  std::string error;
  if (!Parse(description, args, arguments, error))
  {
    std::cerr << description.executable << ": " << error << " (see " << description.executable << " --help)"
              << std::endl;
    return 1;
  }
  try
  {
    run(arguments);
    return 0;
  }
  catch (const itk::ExceptionObject &e)
  {
    std::cerr << description.executable << ": " << e.GetDescription() << std::endl;
  }
  catch (const std::exception &e)
  {
    std::cerr << description.executable << ": " << e.what() << std::endl;
  }
  return 1;
}

void
ProgressPrinter::Start(const std::string &name, const std::string &comment)
{
  m_Name = name;
  m_Last = -1.0;
  m_Started = std::chrono::steady_clock::now();
  std::cout << "<filter-start>\n"
            << "<filter-name>" << Escape(name) << "</filter-name>\n"
            << "<filter-comment>" << Escape(comment) << "</filter-comment>\n"
            << "</filter-start>" << std::endl;
}

void
ProgressPrinter::Comment(const std::string &comment)
{
  std::cout << "<filter-comment>" << Escape(comment) << "</filter-comment>" << std::endl;
}

void
ProgressPrinter::Progress(double fraction)
{
  fraction = std::min(1.0, std::max(0.0, fraction));
  if (fraction < m_Last + 0.001 && !(fraction == 1.0 && m_Last < 1.0))
    return;
  m_Last = fraction;
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", fraction);
  std::cout << "<filter-progress>" << text << "</filter-progress>" << std::endl;
}

void
ProgressPrinter::End()
{
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_Started).count();
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", seconds);
  std::cout << "<filter-end>\n"
            << "<filter-name>" << Escape(m_Name) << "</filter-name>\n"
            << "<filter-time>" << text << "</filter-time>\n"
            << "</filter-end>" << std::endl;
}

void
ProgressPrinter::Watch(itk::ProcessObject *filter, double start, double end)
{
  filter->AddObserver(itk::ProgressEvent(), [this, filter, start, end](const itk::EventObject &) {
    this->Progress(start + (end - start) * filter->GetProgress());
  });
}

} // namespace cli
} // namespace medgen
