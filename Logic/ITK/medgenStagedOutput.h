// medgenStagedOutput: files that appear whole or not at all. What MedGen writes through ITK (volumes, previews,
// DICOM series) is first written into a hidden staging folder beside the target, "<folder>/.<name>.medgen-<pid>-<n>",
// under the target's own name, so that a detached header (.nhdr, .mhd) names its data file as it will be called once
// published. Publish moves the files into place after flushing them, the target itself last (a reader never finds a
// header without its data); PublishFolder renames the staging folder itself to the target (a DICOM series). The
// folder and whatever it still holds go with the object, so a failure leaves nothing; a kill can leave the hidden
// folder behind.
// Errors throw std::runtime_error "<target>: <problem>".
#ifndef medgenStagedOutput_h
#define medgenStagedOutput_h

#include <string>

namespace medgen
{

class StagedOutput
{
public:
  // Creates the staging folder (mode 0777 less the umask, like any new folder: it may become the target).
  explicit StagedOutput(const std::string &target);
  ~StagedOutput();
  StagedOutput(const StagedOutput &) = delete;
  StagedOutput &operator=(const StagedOutput &) = delete;

  // Where to write the target: the staging folder plus the target's file name.
  std::string StagedPath() const;
  const std::string &Folder() const { return m_Folder; }
  // Moves every file of the staging folder beside the target, the target's own file last.
  void Publish();
  // Renames the staging folder to the target, which must not exist (or be an empty folder).
  void PublishFolder();

private:
  std::string m_Given;  // the target as given, for messages
  std::string m_Target; // without trailing '/'
  std::string m_Folder; // the staging folder; "" once published as the target
};

} // namespace medgen

#endif
