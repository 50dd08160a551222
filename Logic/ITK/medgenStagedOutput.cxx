// medgenStagedOutput: see the header.
#include "medgenStagedOutput.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "itksys/Directory.hxx"
#include "itksys/SystemTools.hxx"

namespace medgen
{
namespace
{
std::string
Join(const std::string &folder, const std::string &name)
{
  return folder.empty() ? name : folder + "/" + name;
}

// fsync of a file or folder: the rename that publishes it must not outrun its data.
bool
Sync(const std::string &path)
{
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return false;
  const bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

std::vector<std::string>
FilesIn(const std::string &folder)
{
  itksys::Directory listing;
  listing.Load(folder);
  std::vector<std::string> files;
  for (unsigned long i = 0; i < listing.GetNumberOfFiles(); ++i)
    if (std::strcmp(listing.GetFile(i), ".") && std::strcmp(listing.GetFile(i), ".."))
      files.emplace_back(listing.GetFile(i));
  return files;
}
} // namespace

StagedOutput::StagedOutput(const std::string &target)
  : m_Given(target)
  , m_Target(target)
{
  while (m_Target.size() > 1 && m_Target.back() == '/')
    m_Target.pop_back();
  static std::atomic<unsigned> counter{ 0 };
  const std::string base = Join(itksys::SystemTools::GetFilenamePath(m_Target),
                                "." + itksys::SystemTools::GetFilenameName(m_Target) + ".medgen-" +
                                  std::to_string(getpid()) + "-");
  // mkdir rather than mkdtemp: mkdtemp's folders are private, and a published DICOM series keeps its folder's mode.
  for (int attempt = 0; m_Folder.empty(); ++attempt)
  {
    const std::string candidate = base + std::to_string(counter++);
    if (mkdir(candidate.c_str(), 0777) == 0)
      m_Folder = candidate;
    else if (errno != EEXIST || attempt == 1000)
      throw std::runtime_error(m_Given + ": cannot create a temporary directory beside it (" + std::strerror(errno) +
                               ")");
  }
}

StagedOutput::~StagedOutput()
{
  if (!m_Folder.empty())
    itksys::SystemTools::RemoveADirectory(m_Folder);
}

std::string
StagedOutput::StagedPath() const
{
  return Join(m_Folder, itksys::SystemTools::GetFilenameName(m_Target));
}

void
StagedOutput::Publish()
{
  const std::string name = itksys::SystemTools::GetFilenameName(m_Target);
  std::vector<std::string> files = FilesIn(m_Folder);
  std::stable_partition(files.begin(), files.end(), [&](const std::string &f) { return f != name; });
  const std::string folder = itksys::SystemTools::GetFilenamePath(m_Target);
  std::vector<std::string> moved;
  for (const std::string &f : files)
  {
    const std::string to = Join(folder, f);
    if (!Sync(Join(m_Folder, f)) || std::rename(Join(m_Folder, f).c_str(), to.c_str()) != 0)
    {
      const std::string why = std::strerror(errno);
      for (const std::string &m : moved)
        std::remove(m.c_str());
      throw std::runtime_error(m_Given + ": cannot move " + f + " into place (" + why + ")");
    }
    moved.push_back(to);
  }
}

void
StagedOutput::PublishFolder()
{
  for (const std::string &f : FilesIn(m_Folder))
    if (!Sync(Join(m_Folder, f)))
      throw std::runtime_error(m_Given + ": cannot flush " + f + " (" + std::strerror(errno) + ")");
  if (!Sync(m_Folder) || std::rename(m_Folder.c_str(), m_Target.c_str()) != 0)
    throw std::runtime_error(m_Given + ": cannot move the directory into place (" + std::strerror(errno) + ")");
  m_Folder.clear();
}

} // namespace medgen
