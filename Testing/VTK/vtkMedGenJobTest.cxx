// vtkMedGenJob: /bin/sh scripts as jobs. A run that succeeds with Slicer progress lines (parsed only once whole, the
// last one also without a newline), one that fails with stderr text and an exit code, one that crashes, a missing
// program, a second start while running, Cancel of a job with a grandchild (both gone afterwards), the destructor
// killing a job still running, and Poll returning at once while a job sleeps.
// Usage: vtkMedGenJobTest <scratch dir>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/types.h>

#include <fcntl.h>
#include <unistd.h>

#include "itkTestCheck.h"
#include "itksys/Process.h"
#include "vtkMedGenJob.h"
#include "vtkNew.h"
#include "vtksys/SystemTools.hxx"

using medgen_test::Check;
using medgen_test::Format;

static std::string g_Scratch;

static std::string
Scratch(const std::string &name)
{
  return g_Scratch + "/" + name;
}

// Runs script with /bin/sh in the scratch folder (so relative paths land there), logs in scratch/logs.
static bool
StartScript(vtkMedGenJob *job, const std::string &script)
{
  return job->Start("/bin/sh", { "-c", "cd '" + g_Scratch + "' || exit 99\n" + script }, Scratch("logs"));
}

// Waits (at most 30 s, so a broken job fails the test instead of hanging it) for a file the script creates.
static bool
WaitForFile(const std::string &path)
{
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!vtksys::SystemTools::FileExists(path) && std::chrono::steady_clock::now() < until)
    vtksys::SystemTools::Delay(10);
  return vtksys::SystemTools::FileExists(path);
}

static void
Touch(const std::string &name)
{
  std::ofstream(Scratch(name)) << "go\n";
}

static long
ReadPid(const std::string &name)
{
  long pid = 0;
  std::ifstream(Scratch(name)) >> pid;
  return pid;
}

// A process that no longer runs: gone, or a zombie waiting for a parent that does not reap (PID 1 in a container).
static bool
ProcessIsGone(long pid)
{
  if (kill(static_cast<pid_t>(pid), 0) != 0)
    return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string field;
  for (int i = 0; i < 3 && stat >> field; ++i)
  {
  }
  return field == "Z";
}

// Gives a killed process's reaper (init) time to act; at most 30 s.
static bool
WaitUntilGone(long pid)
{
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ProcessIsGone(pid) && std::chrono::steady_clock::now() < until)
    vtksys::SystemTools::Delay(10);
  return ProcessIsGone(pid);
}

static void
TestSuccess()
{
  vtkNew<vtkMedGenJob> job;
  Check(job->GetState() == vtkMedGenJob::Idle && !job->IsRunning(), "a new job is Idle");
  Check(StartScript(job, "echo '<filter-start>'; echo '<filter-progress>0.25</filter-progress>'; "
                         "echo '<filter-comment>half way there</filter-comment>'; "
                         "echo '<filter-progress>1</filter-progress>'; echo '<filter-end>'"),
        "a script starts: " + job->GetErrorText());
  const vtkMedGenJob::State state = job->Wait(60.0);
  Check(state == vtkMedGenJob::Succeeded, Format("the script succeeds (state %d)", state));
  Check(job->GetProgress() == 1.0, Format("progress 1 at the end (%g)", job->GetProgress()));
  Check(job->GetComment() == "half way there", "the last comment: '" + job->GetComment() + "'");
  Check(job->GetErrorText().empty() && job->GetExitCode() == 0, "no error text, exit code 0: " + job->GetErrorText());
  Check(vtksys::SystemTools::FileExists(Scratch("logs/sh.out")) &&
          vtksys::SystemTools::FileExists(Scratch("logs/sh.err")),
        "stdout and stderr in logs/sh.out and logs/sh.err");
  Check(job->Poll() == vtkMedGenJob::Succeeded, "polling a finished job keeps its state");
}

static void
TestFailureAndCrash()
{
  vtkNew<vtkMedGenJob> job;
  Check(StartScript(job, "echo '<filter-comment>reading</filter-comment>'; echo 'first problem' >&2; "
                         "echo 'MedGenTrain: input.nrrd: no such file' >&2; exit 3"),
        "a failing script starts: " + job->GetErrorText());
  Check(job->Wait(60.0) == vtkMedGenJob::Failed, "a non-zero exit is Failed");
  Check(job->GetExitCode() == 3, Format("its exit code (%d)", job->GetExitCode()));
  Check(job->GetErrorText() == "first problem\nMedGenTrain: input.nrrd: no such file",
        "ErrorText holds stderr's last lines: '" + job->GetErrorText() + "'");
  Check(job->GetComment() == "reading", "a failed job's comment is kept");

  // The same object runs again: a crash (a signal it did not ask for).
  Check(StartScript(job, "kill -SEGV $$"), "a crashing script starts: " + job->GetErrorText());
  Check(job->Wait(60.0) == vtkMedGenJob::Failed, "a crash is Failed");
  Check(job->GetExitCode() == -1, Format("a crash has exit code -1 (%d)", job->GetExitCode()));
  Check(job->GetErrorText().find("sh: ") == 0 && job->GetErrorText().find("ault") != std::string::npos,
        "a crash's ErrorText names the program and the fault: '" + job->GetErrorText() + "'");
  Check(job->GetComment().empty(), "a new start clears the comment");
}

static void
TestMissingProgram()
{
  vtkNew<vtkMedGenJob> job;
  const std::string missing = Scratch("no-such-program");
  Check(!job->Start(missing, {}, Scratch("logs")), "a missing program does not start");
  Check(job->GetState() == vtkMedGenJob::Failed, "a job that did not start is Failed");
  Check(job->GetErrorText() == missing + ": no such program", "the message names it: " + job->GetErrorText());
  Check(!job->Start("no-such-program-on-path", {}, Scratch("logs")) &&
          job->GetErrorText().find("no-such-program-on-path") == 0,
        "a name missing from PATH: " + job->GetErrorText());
  std::ofstream(Scratch("not-executable")) << "#!/bin/sh\n";
  Check(!job->Start(Scratch("not-executable"), {}, Scratch("logs")) &&
          job->GetErrorText() == Scratch("not-executable") + ": not executable",
        "a file without execute permission: " + job->GetErrorText());
}

// Progress lines are parsed whole: a half-written line waits for its end. The script waits for the test's go-ahead
// files, so each poll sees a known amount of output.
static void
TestPartialLines()
{
  vtkNew<vtkMedGenJob> job;
  Check(StartScript(job, "printf '<filter-progress>0.5</filter-pro'; touch half1; "
                         "while [ ! -e go1 ]; do sleep 0.01; done; "
                         "printf 'gress>\\n<filter-comment>one <b>two</b></filter-comment>\\n'; touch half2; "
                         "while [ ! -e go2 ]; do sleep 0.01; done; "
                         "printf '<filter-progress>0.75</filter-progress>'"),
        "the partial-line script starts: " + job->GetErrorText());
  Check(WaitForFile(Scratch("half1")), "the script wrote half a line");
  Check(job->Poll() == vtkMedGenJob::Running, "running while it waits");
  Check(job->GetProgress() == 0.0, Format("half a line is not parsed (progress %g)", job->GetProgress()));
  Touch("go1");
  Check(WaitForFile(Scratch("half2")), "the script finished the line");
  Check(job->Poll() == vtkMedGenJob::Running, "still running");
  Check(job->GetProgress() == 0.5, Format("the whole line is parsed (progress %g)", job->GetProgress()));
  Check(job->GetComment() == "one <b>two</b>", "a comment with markup in it: '" + job->GetComment() + "'");
  Touch("go2");
  Check(job->Wait(60.0) == vtkMedGenJob::Succeeded, "the script ends");
  Check(job->GetProgress() == 0.75,
        Format("the last line, without a newline, is parsed at the end (progress %g)", job->GetProgress()));
}

// Cancel kills the program and what it started; Poll never waits for the program.
static void
TestCancel()
{
  vtkNew<vtkMedGenJob> job;
  Check(StartScript(job, "sleep 300 & echo $! > grandchild.pid; echo $$ > child.tmp && mv child.tmp child.pid; "
                         "echo '<filter-progress>0.1</filter-progress>'; wait"),
        "the sleeping script starts: " + job->GetErrorText());
  Check(WaitForFile(Scratch("child.pid")), "the script wrote its pid");
  int running = 0;
  for (int i = 0; i < 100; ++i)
    running += job->Poll() == vtkMedGenJob::Running;
  Check(running == 100, "Poll returns Running at once while the program sleeps (a blocking Poll hangs here)");
  Check(job->Wait(0.05) == vtkMedGenJob::Running, "Wait returns Running when its time is up");
  Check(!job->Start("/bin/sh", { "-c", "true" }, Scratch("logs")), "a second start is refused while running");
  Check(job->GetErrorText().find("still running") != std::string::npos, "saying why: " + job->GetErrorText());
  Check(job->IsRunning(), "the refused start leaves the running job alone");
  const long child = ReadPid("child.pid"), grandchild = ReadPid("grandchild.pid");
  Check(child > 0 && grandchild > 0, Format("pids %ld and %ld", child, grandchild));
  Check(!ProcessIsGone(child) && !ProcessIsGone(grandchild), "both run before Cancel");
  job->Cancel();
  Check(job->GetState() == vtkMedGenJob::Cancelled, "Cancel makes it Cancelled");
  Check(job->Poll() == vtkMedGenJob::Cancelled, "and polling keeps it");
  Check(job->GetProgress() == 0.1, Format("progress read before the kill is kept (%g)", job->GetProgress()));
  Check(WaitUntilGone(child), "the program is gone");
  Check(WaitUntilGone(grandchild), "the process it started is gone");
  job->Cancel(); // nothing when not running
  Check(job->GetState() == vtkMedGenJob::Cancelled, "a second Cancel changes nothing");
}

// Deleting the object kills a job still running. (The pid files appear whole, by rename: a reader polling for the
// file could otherwise read it between its creation and the write.)
static void
TestDestructorKills()
{
  vtksys::SystemTools::RemoveFile(Scratch("child.pid"));
  vtkMedGenJob *job = vtkMedGenJob::New();
  Check(StartScript(job, "echo $$ > child.tmp && mv child.tmp child.pid; sleep 300"), "the sleeping script starts: " + job->GetErrorText());
  Check(WaitForFile(Scratch("child.pid")), "the script wrote its pid");
  const long child = ReadPid("child.pid");
  job->Delete();
  Check(child > 0 && WaitUntilGone(child), "the destructor killed the job");
}

// Slicer runs CLI modules with ITK's copy of KWSys Process, which catches SIGCHLD. A job must neither hide that run's
// end nor miss its own (KWSys in the job made one of the two wait forever).
static void
TestBesideKWSysProcess()
{
  const char *sleepOne[] = { "/bin/sleep", "1", nullptr };
  itksysProcess *cli = itksysProcess_New();
  itksysProcess_SetCommand(cli, sleepOne);
  itksysProcess_Execute(cli);
  vtkNew<vtkMedGenJob> job;
  Check(StartScript(job, "sleep 1"), "a job starts beside a KWSys process: " + job->GetErrorText());
  double timeout = 8.0;
  Check(itksysProcess_WaitForExit(cli, &timeout) == 1 && itksysProcess_GetState(cli) == itksysProcess_State_Exited,
        "the KWSys process is seen to end");
  itksysProcess_Delete(cli);
  Check(job->Wait(8.0) == vtkMedGenJob::Succeeded, "and so is the job");
}

// A descriptor the caller opened without close-on-exec (Slicer's files and sockets) is not handed to the job.
static void
TestNoInheritedDescriptors()
{
  const int fd = open(Scratch("inherited").c_str(), O_WRONLY | O_CREAT, 0644);
  vtkNew<vtkMedGenJob> job;
  Check(StartScript(job, "[ ! -e /proc/$$/fd/" + std::to_string(fd) + " ]"), "the job starts: " + job->GetErrorText());
  Check(fd >= 3 && job->Wait(10.0) == vtkMedGenJob::Succeeded,
        "the job does not hold the caller's descriptor " + std::to_string(fd));
  close(fd);
}

int
main(int argc, char *argv[])
{
  if (argc < 2)
  {
    std::cout << "usage: vtkMedGenJobTest <scratch dir>" << std::endl;
    return 1;
  }
  g_Scratch = argv[1];
  vtksys::SystemTools::RemoveADirectory(g_Scratch);
  vtksys::SystemTools::MakeDirectory(g_Scratch);
  TestSuccess();
  TestFailureAndCrash();
  TestMissingProgram();
  TestPartialLines();
  TestCancel();
  TestDestructorKills();
  TestBesideKWSysProcess();
  TestNoInheritedDescriptors();
  return medgen_test::Finish();
}
