// Internal to mg_itk_*.cxx: the exception barrier of the C interface (mg_itk.h), so that no C++ exception reaches a C
// caller.
#ifndef mg_itk_guard_h
#define mg_itk_guard_h

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "itkMacro.h"
#include "medgen.h"

namespace mg_itk_detail
{
// Runs body, which returns an mg_status, and turns an exception out of it into a status and a message in err:
// std::bad_alloc gives MG_ERR_OUT_OF_MEMORY ("out of memory"), any other exception `failure` with its message (an
// ITK exception's description, without ITK's source file and line), after itkContext when ITK threw it. The message
// starts with "<path>: " unless path is empty or the message already starts with it.
template <typename Body>
mg_status
Guard(const std::string &path, mg_status failure, char *err, size_t err_size, Body &&body,
      const char *itkContext = "")
{
  try // the outer try: building the message may itself run out of memory
  {
    mg_status status;
    std::string what;
    try
    {
      return body();
    }
    catch (const std::bad_alloc &)
    {
      status = MG_ERR_OUT_OF_MEMORY;
      what = "out of memory";
    }
    catch (const itk::ExceptionObject &e)
    {
      status = failure;
      what = std::string(itkContext) + e.GetDescription();
    }
    catch (const std::exception &e)
    {
      status = failure;
      what = e.what();
    }
    catch (...)
    {
      status = MG_ERR_INTERNAL;
      what = "unexpected error";
    }
    if (!err || !err_size)
      return status;
    if (path.empty() || what.rfind(path, 0) == 0)
      std::snprintf(err, err_size, "%s", what.c_str());
    else
      std::snprintf(err, err_size, "%s: %s", path.c_str(), what.c_str());
    return status;
  }
  catch (...)
  {
    if (err && err_size)
      std::snprintf(err, err_size, "%s", "out of memory");
    return MG_ERR_OUT_OF_MEMORY;
  }
}
} // namespace mg_itk_detail

#endif
