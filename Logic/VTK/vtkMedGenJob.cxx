// vtkMedGenJob.h's implementation over KWSys Process (vtksys), which runs a program portably, sends its output to
// files and kills it with every process it started (the whole tree: a CLI module's helpers die with it).
#include "vtkMedGenJob.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "vtkObjectFactory.h"
#include "vtksys/Process.h"
#include "vtksys/SystemTools.hxx"

vtkStandardNewMacro(vtkMedGenJob);

namespace
{

#ifdef _WIN32
const char *const NullDevice = "NUL";
#else
const char *const NullDevice = "/dev/null";
#endif

// How many of stderr's last lines ErrorText keeps, read from at most this many of its last bytes.
constexpr int ErrorLines = 5;
constexpr std::streamoff ErrorTailBytes = 8192;

// The text between <tag> and </tag> in line (the last occurrence), or false when line has none.
bool
TaggedValue(const std::string &line, const std::string &tag, std::string &value)
{
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  const size_t start = line.rfind(open);
  if (start == std::string::npos)
    return false;
  const size_t end = line.find(close, start + open.size());
  if (end == std::string::npos)
    return false;
  value = line.substr(start + open.size(), end - start - open.size());
  return true;
}

// The last ErrorLines non-empty lines of a file (empty when it is missing or empty).
std::string
LastLines(const std::string &path)
{
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file)
    return std::string();
  const std::streamoff size = file.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - ErrorTailBytes);
  file.seekg(start);
  std::string text(static_cast<size_t>(size - start), '\0');
  file.read(&text[0], static_cast<std::streamsize>(text.size()));
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);)
  {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (!line.empty())
      lines.push_back(line);
  }
  if (start > 0 && !lines.empty())
    lines.erase(lines.begin()); // cut mid-line
  std::string last;
  for (size_t i = lines.size() > ErrorLines ? lines.size() - ErrorLines : 0; i < lines.size(); ++i)
    last += (last.empty() ? "" : "\n") + lines[i];
  return last;
}

} // namespace

struct vtkMedGenJob::Internals
{
  vtksysProcess *Process = nullptr;
  std::string ProgramName; // the program's file name, for messages
  std::string StdoutPath, StderrPath;
  std::streamoff StdoutParsed = 0; // bytes of stdout already read: whole lines only

  ~Internals() { this->Release(); }
  // Reads stdout's new whole lines (and a last partial one once the program has ended) into job's progress.
  void ReadNewOutput(vtkMedGenJob *job, bool ended);
  void Release()
  {
    if (this->Process)
      vtksysProcess_Delete(this->Process);
    this->Process = nullptr;
  }
};

vtkMedGenJob::vtkMedGenJob()
  : Internal(new Internals)
{
}

vtkMedGenJob::~vtkMedGenJob()
{
  this->Cancel();
  delete this->Internal;
}

bool
vtkMedGenJob::Start(const std::string &program, const std::vector<std::string> &args, const std::string &logDirectory)
{
  if (this->IsRunning())
  {
    this->ErrorText = program + ": not started, " + this->Internal->ProgramName + " is still running";
    return false;
  }
  this->Internal->Release();
  this->JobState = Failed; // until it runs
  this->Progress = 0.0;
  this->Comment.clear();
  this->ErrorText.clear();
  this->ExitCode = 0;
  this->Internal->ProgramName = vtksys::SystemTools::GetFilenameName(program);
  this->Internal->StdoutParsed = 0;
  this->Modified();

  // A program without a folder is looked up on PATH, as the system does.
  const bool hasFolder = program.find_first_of("/\\") != std::string::npos;
  const std::string found = hasFolder ? program : vtksys::SystemTools::FindProgram(program);
  if (found.empty() || !vtksys::SystemTools::FileExists(found, true))
  {
    this->ErrorText = program + ": no such program";
    return false;
  }
  if (!vtksys::SystemTools::TestFileAccess(found, vtksys::TEST_FILE_EXECUTE))
  {
    this->ErrorText = program + ": not executable";
    return false;
  }
  if (!vtksys::SystemTools::MakeDirectory(logDirectory))
  {
    this->ErrorText = logDirectory + ": cannot create the log folder for " + this->Internal->ProgramName;
    return false;
  }
  this->Internal->StdoutPath = logDirectory + "/" + this->Internal->ProgramName + ".out";
  this->Internal->StderrPath = logDirectory + "/" + this->Internal->ProgramName + ".err";

  std::vector<const char *> command{ found.c_str() };
  for (const std::string &arg : args)
    command.push_back(arg.c_str());
  command.push_back(nullptr);
  vtksysProcess *process = vtksysProcess_New();
  this->Internal->Process = process;
  if (!process || !vtksysProcess_SetCommand(process, command.data()) ||
      !vtksysProcess_SetPipeFile(process, vtksysProcess_Pipe_STDIN, NullDevice) ||
      !vtksysProcess_SetPipeFile(process, vtksysProcess_Pipe_STDOUT, this->Internal->StdoutPath.c_str()) ||
      !vtksysProcess_SetPipeFile(process, vtksysProcess_Pipe_STDERR, this->Internal->StderrPath.c_str()))
  {
    this->ErrorText = program + ": cannot start (out of memory)";
    this->Internal->Release();
    return false;
  }
  // Its own process group (and, on UNIX, session): a Ctrl+C meant for the caller does not reach it.
  vtksysProcess_SetOption(process, vtksysProcess_Option_CreateProcessGroup, 1);
  vtksysProcess_Execute(process);
  if (vtksysProcess_GetState(process) != vtksysProcess_State_Executing)
  {
    const char *why = vtksysProcess_GetErrorString(process);
    this->ErrorText = program + ": cannot start (" + (why ? why : "unknown error") + ")";
    this->Internal->Release();
    return false;
  }
  this->JobState = Running;
  return true;
}

void
vtkMedGenJob::Internals::ReadNewOutput(vtkMedGenJob *job, bool ended)
{
  std::ifstream file(this->StdoutPath, std::ios::binary | std::ios::ate);
  if (!file)
    return;
  const std::streamoff size = file.tellg();
  if (size <= this->StdoutParsed)
    return;
  file.seekg(this->StdoutParsed);
  std::string text(static_cast<size_t>(size - this->StdoutParsed), '\0');
  file.read(&text[0], static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(file.gcount()));
  // A line still being written waits for the next poll, unless the program has ended.
  const size_t complete = ended ? text.size() : text.rfind('\n') + 1; // npos + 1 == 0: no whole line yet
  this->StdoutParsed += static_cast<std::streamoff>(complete);
  std::istringstream lines(text.substr(0, complete));
  bool changed = false;
  for (std::string line, value; std::getline(lines, line);)
  {
    if (TaggedValue(line, "filter-progress", value))
    {
      char *end = nullptr;
      const double progress = std::strtod(value.c_str(), &end);
      if (end != value.c_str() && progress >= 0.0) // a NaN fails the comparison
      {
        job->Progress = std::min(progress, 1.0);
        changed = true;
      }
    }
    if (TaggedValue(line, "filter-comment", value))
    {
      job->Comment = value;
      changed = true;
    }
  }
  if (changed)
    job->Modified();
}

vtkMedGenJob::State
vtkMedGenJob::Poll()
{
  if (!this->IsRunning())
    return this->JobState;
  double noWait = 0.0;
  const bool ended = vtksysProcess_WaitForExit(this->Internal->Process, &noWait) != 0;
  this->Internal->ReadNewOutput(this, ended);
  if (!ended)
    return this->JobState;

  vtksysProcess *process = this->Internal->Process;
  const std::string stderrTail = LastLines(this->Internal->StderrPath);
  const std::string &name = this->Internal->ProgramName;
  switch (vtksysProcess_GetState(process))
  {
    case vtksysProcess_State_Exited:
      this->ExitCode = vtksysProcess_GetExitValue(process);
      this->JobState = this->ExitCode == 0 ? Succeeded : Failed;
      if (this->ExitCode != 0)
        this->ErrorText =
          stderrTail.empty() ? name + ": exited with code " + std::to_string(this->ExitCode) : stderrTail;
      break;
    case vtksysProcess_State_Exception:
      this->ExitCode = -1;
      this->JobState = Failed;
      this->ErrorText = name + ": " + vtksysProcess_GetExceptionString(process) +
                        (stderrTail.empty() ? std::string() : "\n" + stderrTail);
      break;
    case vtksysProcess_State_Killed: // by someone else: Cancel() sets its own state
      this->ExitCode = -1;
      this->JobState = Failed;
      this->ErrorText = name + ": killed";
      break;
    default: // Error (waiting for the child failed) or Expired (no timeout is set)
    {
      const char *why = vtksysProcess_GetErrorString(process);
      this->ExitCode = -1;
      this->JobState = Failed;
      this->ErrorText = name + ": " + (why ? why : "lost track of the process");
    }
  }
  this->Internal->Release();
  this->Modified();
  return this->JobState;
}

vtkMedGenJob::State
vtkMedGenJob::Wait(double seconds)
{
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (this->Poll() == Running && std::chrono::steady_clock::now() < until)
    vtksys::SystemTools::Delay(20);
  return this->JobState;
}

void
vtkMedGenJob::Cancel()
{
  if (this->Poll() != Running) // a job that has just ended keeps its outcome
    return;
  vtksysProcess_Kill(this->Internal->Process);
  vtksysProcess_WaitForExit(this->Internal->Process, nullptr); // reaped by Kill: returns at once
  this->Internal->ReadNewOutput(this, true);
  this->Internal->Release();
  this->JobState = Cancelled;
  this->ExitCode = -1;
  this->Modified();
}

void
vtkMedGenJob::PrintSelf(ostream &os, vtkIndent indent)
{
  this->Superclass::PrintSelf(os, indent);
  static const char *const names[] = { "Idle", "Running", "Succeeded", "Failed", "Cancelled" };
  os << indent << "Program: " << this->Internal->ProgramName << "\n";
  os << indent << "State: " << names[this->JobState] << "\n";
  os << indent << "Progress: " << this->Progress << "\n";
  os << indent << "Comment: " << this->Comment << "\n";
  os << indent << "ErrorText: " << this->ErrorText << "\n";
  os << indent << "ExitCode: " << this->ExitCode << "\n";
  os << indent << "Stdout: " << this->Internal->StdoutPath << "\n";
  os << indent << "Stderr: " << this->Internal->StderrPath << "\n";
}
