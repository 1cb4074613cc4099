// What the zygote keeps for checkers and how a forked child runs one, through the CPython C API alone.
// No Python code of ours runs in the zygote's job loop or on a child's normal path, and the zygote needs no
// msgspec: every page a child writes and every megabyte the zygote holds is copied or torn down per check.
// Semantics match eigenfast/sandbox/child.py (the Python server's runner), which a child falls back to for
// values outside the native msgpack subset (csrc/pymsgpack.h).
#pragma once

#include <Python.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace eigenfast::sandbox {

class CheckerCaches {
 public:
  // Call with the zygote's own sys.stdout/sys.stderr in place (the ones children need not flush).
  CheckerCaches(size_t payload_slots, size_t code_slots, size_t code_max_spec);
  CheckerCaches(const CheckerCaches&) = delete;
  CheckerCaches& operator=(const CheckerCaches&) = delete;
  ~CheckerCaches();

  // Decodes a payload once and keeps it under key, first-in first-out over payload_slots (the host mirrors
  // the same order). A payload outside the native subset is kept as bytes and decoded by each child.
  void admit(const std::string& key, const char* data, size_t size);

  // Compiles the checker of a spec that a child just ran cleanly within its limits, first-in first-out over
  // code_slots; big specs are skipped, and a spec that will not compile is remembered as such.
  void learn(const std::string& spec);

  // Never returns: runs the job's checker in this (isolated) child, writes its report to fd 3 and exits.
  // key is the 32-byte cache key, or null for an inline payload.
  [[noreturn]] void run_child(std::string_view spec, const char* key, std::string_view payload,
                              size_t max_output);

 private:
  struct Payload {
    PyObject* decoded = nullptr;  // owned; null when `raw` must be decoded per child
    std::string raw;
  };

  size_t payload_slots_, code_slots_, code_max_spec_;
  PyObject* streams_[2];  // owned: the zygote's unbuffered sys.stdout and sys.stderr
  PyObject* builtins_;    // owned: the builtins module every checker namespace gets
  PyObject* names_[3];    // owned, interned: "__name__", "__builtins__", "__checker__"
  std::string report_;    // the child's report buffer
  // Ordered maps with transparent comparison: a child looks them up with views, allocating nothing.
  std::map<std::string, Payload, std::less<>> payloads_;
  std::deque<std::string> payload_order_;
  std::map<std::string, PyObject*, std::less<>> codes_;  // owned; Py_None marks a spec that does not compile
  std::deque<std::string> code_order_;
};

}  // namespace eigenfast::sandbox
