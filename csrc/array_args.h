// Argument checks for numpy buffers handed to the native ops: the right dtype, 1-D and C-contiguous, or a clear
// TypeError naming the argument. Nothing is converted, so nothing is silently copied.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace eigenfast {

namespace py = pybind11;

template <class T>
bool has_dtype(const py::array& a) {
  return py::isinstance<py::array_t<T>>(a);
}

inline void check_vector(const py::array& a, const char* name) {
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style)) {
    throw py::type_error(std::string(name) + " must be a 1-D C-contiguous array, got ndim=" +
                         std::to_string(a.ndim()));
  }
}

template <class T>
const T* vector_data(const py::array& a, const char* name, const char* expected_dtype, int64_t expected_len = -1) {
  if (!has_dtype<T>(a)) {
    throw py::type_error(std::string(name) + " must have dtype " + expected_dtype + ", got " +
                         std::string(py::str(a.dtype())));
  }
  check_vector(a, name);
  if (expected_len >= 0 && a.shape(0) != expected_len) {
    throw py::value_error(std::string(name) + " must have length " + std::to_string(expected_len) + ", got " +
                          std::to_string(a.shape(0)));
  }
  return static_cast<const T*>(a.data());
}

template <class T>
py::array_t<T> vector_to_numpy(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

}  // namespace eigenfast
