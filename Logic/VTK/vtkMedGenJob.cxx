// vtkMedGenJob.h's implementation over POSIX fork/exec and waitpid. Not KWSys Process: it installs a process-wide
// SIGCHLD handler, and so does the other copy of KWSys in Slicer (ITK's, which runs CLI modules), so that with both
// running one of them never saw its child end. No signal handler here: Poll asks waitpid without waiting.
#include "vtkMedGenJob.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "vtkObjectFactory.h"
#include "vtksys/SystemTools.hxx"

vtkStandardNewMacro(vtkMedGenJob);

namespace
{

#ifdef _WIN32
#error "vtkMedGenJob runs programs with POSIX fork/exec; a Windows build needs CreateProcess here"
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
  pid_t Pid = -1;           // the running job, leader of its own process group; -1 when none
  std::string ProgramName; // the program's file name, for messages
  std::string StdoutPath, StderrPath;
  std::streamoff StdoutParsed = 0; // bytes of stdout already read: whole lines only

  // Reads stdout's new whole lines (and a last partial one once the program has ended) into job's progress.
  void ReadNewOutput(vtkMedGenJob *job, bool ended);
  // Starts command with stdin from /dev/null and stdout, stderr into the log files, in a process group of its own,
  // with no other descriptor of ours; on Linux it is killed when the thread that started it dies. An error message
  // (empty on success).
  std::string Spawn(const std::vector<const char *> &command);
};

std::string
vtkMedGenJob::Internals::Spawn(const std::vector<const char *> &command)
{
  const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out = open(this->StdoutPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = open(this->StderrPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int report[2] = { -1, -1 }; // the child writes exec's errno here; closed by a successful exec
  std::string problem;
  if (in < 0 || out < 0 || err < 0)
    problem = std::string("cannot open its log files (") + std::strerror(errno) + ")";
  else if (pipe2(report, O_CLOEXEC) != 0)
    problem = std::string("cannot start (") + std::strerror(errno) + ")";
  const long maxFd = sysconf(_SC_OPEN_MAX);
  pid_t pid = problem.empty() ? fork() : -1;
  if (pid == 0)
  {
    // The child: async-signal-safe calls only until exec.
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (long fd = 3; fd < (maxFd > 0 && maxFd < 65536 ? maxFd : 65536); ++fd)
      if (fd != report[1])
        close(static_cast<int>(fd));
    execv(command[0], const_cast<char *const *>(command.data()));
    const int why = errno;
    (void)!write(report[1], &why, sizeof why);
    _exit(127);
  }
  if (problem.empty() && pid < 0)
    problem = std::string("cannot start (") + std::strerror(errno) + ")";
  for (int fd : { in, out, err, report[1] })
    if (fd >= 0)
      close(fd);
  if (pid > 0)
  {
    setpgid(pid, pid); // also here: the group must exist before a Cancel can signal it
    int why = 0;
    ssize_t got;
    while ((got = read(report[0], &why, sizeof why)) < 0 && errno == EINTR)
    {
    }
    if (got == static_cast<ssize_t>(sizeof why))
    {
      waitpid(pid, nullptr, 0);
      problem = std::string("cannot start (") + std::strerror(why) + ")";
      pid = -1;
    }
  }
  if (report[0] >= 0)
    close(report[0]);
  this->Pid = pid > 0 ? pid : -1;
  return problem;
}

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
  const std::string problem = this->Internal->Spawn(command);
  if (!problem.empty())
  {
    this->ErrorText = program + ": " + problem;
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
  int status = 0;
  const pid_t reaped = waitpid(this->Internal->Pid, &status, WNOHANG);
  const bool ended = reaped != 0; // the child, or -1: it is gone (reaped elsewhere)
  this->Internal->ReadNewOutput(this, ended);
  if (!ended)
    return this->JobState;

  const std::string stderrTail = LastLines(this->Internal->StderrPath);
  const std::string &name = this->Internal->ProgramName;
  this->JobState = Failed;
  this->ExitCode = -1;
  if (reaped < 0)
    this->ErrorText = name + ": lost track of the process (" + std::strerror(errno) + ")";
  else if (WIFEXITED(status))
  {
    this->ExitCode = WEXITSTATUS(status);
    if (this->ExitCode == 0)
      this->JobState = Succeeded;
    else
      this->ErrorText = stderrTail.empty() ? name + ": exited with code " + std::to_string(this->ExitCode) : stderrTail;
  }
  else if (WIFSIGNALED(status))
  {
    const int signal = WTERMSIG(status);
    // Cancel() sets its own state: a kill seen here came from someone else.
    this->ErrorText = name + ": " + (signal == SIGKILL ? std::string("killed") : std::string(strsignal(signal))) +
                      (stderrTail.empty() ? std::string() : "\n" + stderrTail);
  }
  this->Internal->Pid = -1;
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
  kill(-this->Internal->Pid, SIGKILL); // the whole group: a CLI module's helpers die with it
  while (waitpid(this->Internal->Pid, nullptr, 0) < 0 && errno == EINTR)
  {
  }
  this->Internal->Pid = -1;
  this->Internal->ReadNewOutput(this, true);
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
