// The module entry point: runs every registered binding group and records which ones were built.
#include <pybind11/pybind11.h>

#include "registry.h"

#ifndef EIGENFAST_VERSION
#define EIGENFAST_VERSION "dev"
#endif

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "eigenfast native core: packing, advantages and the checker sandbox";
  m.attr("__version__") = EIGENFAST_VERSION;
  py::list groups;
  for (auto& [name, fn] : eigenfast::binding_registry()) {
    auto sub = m;  // groups bind into the top-level module; names are prefixed by convention
    fn(sub);
    groups.append(py::str(name));
  }
  m.attr("binding_groups") = groups;
}
