// Self-registration of binding groups: each source file adds a function that fills the module, so
// bindings.cpp never needs to know which ops exist.
#pragma once
#include <pybind11/pybind11.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace eigenfast {

using BindFn = void (*)(pybind11::module_&);

inline std::vector<std::pair<std::string, BindFn>>& binding_registry() {
  static std::vector<std::pair<std::string, BindFn>> fns;
  return fns;
}

struct RegisterBindings {
  RegisterBindings(const char* name, BindFn fn) { binding_registry().emplace_back(name, fn); }
};

}  // namespace eigenfast

#define EIGENFAST_REGISTER_BINDINGS(name, fn) \
  static ::eigenfast::RegisterBindings eigenfast_register_##name(#name, fn)
