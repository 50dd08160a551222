// The scalar pixel types MedGen writes, by ITK's component type names: "unsigned_char" as ITK spells them, or
// "unsigned char" as people write them.
#ifndef medgenPixelType_h
#define medgenPixelType_h

#include <string>

namespace medgen
{

// Calls f(T()) with the C++ type name stands for and returns true; returns false (f not called) for any other name.
// Names: unsigned char, char, unsigned short, short, unsigned int, int, float, double.
template <typename F>
bool
ForPixelType(std::string name, F &&f)
{
  for (char &c : name)
    c = c == '_' ? ' ' : c;
  if (name == "unsigned char")
    f(static_cast<unsigned char>(0));
  else if (name == "char")
    f(static_cast<signed char>(0));
  else if (name == "unsigned short")
    f(static_cast<unsigned short>(0));
  else if (name == "short")
    f(static_cast<short>(0));
  else if (name == "unsigned int")
    f(static_cast<unsigned int>(0));
  else if (name == "int")
    f(0);
  else if (name == "float")
    f(0.0f);
  else if (name == "double")
    f(0.0);
  else
    return false;
  return true;
}

} // namespace medgen

#endif
