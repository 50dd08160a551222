// vtkMedGenJob: one program run out of process (a MedGen CLI module), watched without blocking. A crash or a kill of
// the program never takes the caller down. Its stdout and stderr go to files in a log folder (no pipes to drain,
// so a caller that polls rarely never stalls it); Poll reads what is new: Slicer's progress lines
// (<filter-progress>, <filter-comment>) and, once it has ended, its exit status.
#ifndef vtkMedGenJob_h
#define vtkMedGenJob_h

#include <string>
#include <vector>

#include "vtkObject.h"

class vtkMedGenJob : public vtkObject
{
public:
  static vtkMedGenJob *New();
  vtkTypeMacro(vtkMedGenJob, vtkObject);
  void PrintSelf(ostream &os, vtkIndent indent) override;

  enum State
  {
    Idle,      // never started
    Running,
    Succeeded, // exit status 0
    Failed,    // did not start, non-zero exit, or killed by a signal it did not ask for
    Cancelled  // Cancel() killed it
  };

  // Starts program with args; stdout goes to logDirectory/<name>.out, stderr to <name>.err (name: the program's file
  // name). false (and ErrorText set) when a job is still running, the program does not exist or cannot start.
  bool Start(const std::string &program, const std::vector<std::string> &args, const std::string &logDirectory);
  // Does not block: reads new output, updates State, Progress, Comment, ErrorText.
  State Poll();
  // Blocks until the job ends or seconds pass (polling); returns the state.
  State Wait(double seconds);
  // Kills the job and every process it started (SIGKILL to its process group); State becomes Cancelled. Nothing
  // when not running.
  void Cancel();

  State GetState() const { return this->JobState; }
  bool IsRunning() const { return this->JobState == Running; }
  // The last <filter-progress> value (0..1), the last <filter-comment>.
  double GetProgress() const { return this->Progress; }
  const std::string &GetComment() const { return this->Comment; }
  // Failed: why (the program's last stderr lines, or why it could not start); else empty.
  const std::string &GetErrorText() const { return this->ErrorText; }
  // The exit status once it exited; -1 when it crashed or was killed.
  int GetExitCode() const { return this->ExitCode; }

protected:
  vtkMedGenJob();
  ~vtkMedGenJob() override; // kills a job still running

private:
  vtkMedGenJob(const vtkMedGenJob &) = delete;
  void operator=(const vtkMedGenJob &) = delete;
  struct Internals;
  Internals *Internal;
  State JobState = Idle;
  double Progress = 0.0;
  std::string Comment;
  std::string ErrorText;
  int ExitCode = 0;
};

#endif
