// itkTestCheck.h: pass/fail counting for the ITK tests (one test program a file). Check records one check and prints
// what failed; Format words a message printf-style; Finish prints the summary and returns the exit code.
#ifndef itkTestCheck_h
#define itkTestCheck_h

#include <cstdarg>
#include <cstdio>
#include <iostream>
#include <string>

namespace medgen_test
{
inline int failures = 0;

inline void
Check(bool ok, const std::string &what)
{
  if (!ok)
  {
    std::cout << "FAIL: " << what << std::endl;
    ++failures;
  }
}

inline std::string
Format(const char *format, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 1, 2)))
#endif
  ;

inline std::string
Format(const char *format, ...)
{
  va_list args;
  va_start(args, format);
  char text[1024];
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return text;
}

inline int
Finish()
{
  if (failures)
    std::cout << "FAILED: " << failures << " failures" << std::endl;
  else
    std::cout << "passed" << std::endl;
  return failures ? 1 : 0;
}
} // namespace medgen_test

#endif
