// See checker_runtime.h. Reports are msgpack arrays laid out as protocol.ChildReport encodes them
// (status, value, error_type, message; trailing nils omitted), so both servers produce the same bytes.
#include "checker_runtime.h"

#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>

#include "payload_layout.h"
#include "pymsgpack.h"

namespace eigenfast::sandbox {
namespace {

namespace mp = eigenfast::pymsgpack;

constexpr Py_ssize_t kMaxMessage = 2000;  // as child.py: str(exc)[:2000]
constexpr int kResultFd = 3;
constexpr size_t kReportReserve = 16 * 1024;

// A new reference, or null with the error cleared.
PyObject* quiet(PyObject* obj) {
  if (obj == nullptr) PyErr_Clear();
  return obj;
}

struct Report {
  std::string status;
  PyObject* value = nullptr;  // borrowed
  std::string error_type;     // empty = nil
  PyObject* message = nullptr;  // owned str or null = nil
  ~Report() { Py_XDECREF(message); }
};

void pack_str(std::string_view s, std::string* out) {
  if (!mp::pack_utf8(s, out)) throw std::bad_alloc();
}

// The (source, entry) strings of a JobSpec as views into its bytes: a fixarray of two msgpack strs, which is
// how the host's msgspec encodes it. False for anything else.
bool spec_parts(std::string_view spec, std::string_view* source, std::string_view* entry) {
  const char* p = spec.data();
  const char* end = p + spec.size();
  return p < end && uint8_t(*p++) == 0x92 && mp::read_utf8(&p, end, source) && mp::read_utf8(&p, end, entry) &&
         p == end;
}

PyObject* unicode(std::string_view s) {
  return PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), nullptr);
}

// Encodes r natively; false if a field is outside the native subset (the caller falls back to child.py).
bool encode(const Report& r, std::string* out) {
  const bool has_value = r.value != nullptr && r.value != Py_None;
  const int fields = r.message != nullptr ? 4 : !r.error_type.empty() ? 3 : has_value ? 2 : 1;
  out->clear();
  out->push_back(char(0x90 | fields));
  pack_str(r.status, out);
  if (fields >= 2 && !has_value) out->push_back(char(0xc0));
  if (fields >= 2 && has_value && mp::pack(r.value, out) != mp::Status::kOk) return false;
  if (fields >= 3 && r.error_type.empty()) out->push_back(char(0xc0));
  if (fields >= 3 && !r.error_type.empty()) pack_str(r.error_type, out);
  if (fields >= 4 && mp::pack(r.message, out) != mp::Status::kOk) return false;
  return true;
}

const std::string& memory_report() {
  static const std::string bytes = [] {
    std::string s("\x94\xa6memory\xc0\xabMemoryError\xadout of memory", 1 + 7 + 1 + 12 + 14);
    return s;
  }();
  return bytes;
}

// type(exc).__name__ without running Python code.
std::string type_name(PyObject* type) {
  auto* tp = reinterpret_cast<PyTypeObject*>(type);
  if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
    const char* name = PyUnicode_AsUTF8(reinterpret_cast<PyHeapTypeObject*>(tp)->ht_name);
    if (name != nullptr) return name;
    PyErr_Clear();
  }
  const char* dot = std::strrchr(tp->tp_name, '.');
  return dot != nullptr ? dot + 1 : tp->tp_name;
}

// Turns the pending Python exception into r (error, or memory for MemoryError).
void take_exception(Report* r) {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (type == nullptr || PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) {
    r->status = "memory";
    r->error_type = "MemoryError";
    r->message = PyUnicode_FromString("out of memory");
  } else {
    r->status = "error";
    r->error_type = type_name(type);
    PyObject* text = quiet(PyObject_Str(value != nullptr ? value : type));
    if (text != nullptr && PyUnicode_GET_LENGTH(text) > kMaxMessage) {
      PyObject* cut = quiet(PyUnicode_Substring(text, 0, kMaxMessage));
      Py_DECREF(text);
      text = cut;
    }
    r->message = text != nullptr ? text : PyUnicode_FromString("<unprintable exception>");
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

// child.py, imported only for values and payloads outside the native subset (it loads msgspec).
PyObject* child_py(const char* fn) {
  PyObject* mod = PyImport_ImportModule("eigenfast.sandbox.child");
  if (mod == nullptr) return nullptr;
  PyObject* out = PyObject_GetAttrString(mod, fn);
  Py_DECREF(mod);
  return out;
}

// The report's bytes by msgspec's rules (bad_output for an unencodable or oversized value).
std::string encode_with_child_py(const Report& r, size_t max_output) {
  PyObject* fn = child_py("encode_report");
  PyObject* bytes = fn == nullptr ? nullptr
                    : PyObject_CallFunction(fn, "sOzOn", r.status.c_str(), r.value != nullptr ? r.value : Py_None,
                                            r.error_type.empty() ? nullptr : r.error_type.c_str(),
                                            r.message != nullptr ? r.message : Py_None, Py_ssize_t(max_output));
  Py_XDECREF(fn);
  if (bytes == nullptr || !PyBytes_Check(bytes)) {
    Py_XDECREF(bytes);
    throw std::bad_alloc();  // reported as memory: child.py only fails here when allocation does
  }
  std::string out(PyBytes_AS_STRING(bytes), size_t(PyBytes_GET_SIZE(bytes)));
  Py_DECREF(bytes);
  return out;
}

// A new reference to the decoded payload, or null with a Python exception set.
PyObject* decode_payload(std::string_view data) {
  PyObject* out = nullptr;
  const mp::Status st = mp::unpack(data.data(), data.size(), &out);
  if (st == mp::Status::kOk) return out;
  PyErr_Clear();
  PyObject* bytes = PyBytes_FromStringAndSize(data.data(), Py_ssize_t(data.size()));
  if (bytes == nullptr) return nullptr;
  PyObject* fn = child_py("decode_payload");
  out = fn != nullptr ? PyObject_CallOneArg(fn, bytes) : nullptr;
  Py_XDECREF(fn);
  Py_DECREF(bytes);
  return out;
}

// compile(source, "<checker>", "exec") through the builtin, as child.py does (null bytes, coding cookies
// and errors behave identically). A new reference, or null with the error set.
PyObject* compile_source(PyObject* source) {
  PyObject* compile = PyDict_GetItemString(PyEval_GetBuiltins(), "compile");  // borrowed
  if (compile == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "builtins.compile is missing");
    return nullptr;
  }
  return PyObject_CallFunction(compile, "Oss", source, "<checker>", "exec");
}

// The zygote runs with -u, so its own stdout/stderr are write-through and unbuffered: only streams the checker
// put in their place can hold data (flushing the originals anyway costs a trivial check ~10% in page faults).
void flush_streams(PyObject* const originals[2]) {
  const char* names[2] = {"stdout", "stderr"};
  for (int i = 0; i < 2; ++i) {
    PyObject* stream = PySys_GetObject(names[i]);  // borrowed; the checker may have replaced or closed it
    if (stream != nullptr && stream != Py_None && stream != originals[i]) {
      Py_XDECREF(quiet(PyObject_CallMethod(stream, "flush", nullptr)));
    }
    PyErr_Clear();
  }
}

[[noreturn]] void deliver(const std::string& data, PyObject* const streams[2]) {
  flush_streams(streams);
  const char* p = data.data();
  size_t n = data.size();
  while (n > 0) {
    const ssize_t w = write(kResultFd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    p += w;
    n -= size_t(w);
  }
  close(kResultFd);  // tells the server the report is complete before the (slow) address-space teardown
  _exit(0);
}

}  // namespace

CheckerCaches::CheckerCaches(size_t payload_slots, size_t code_slots, size_t code_max_spec)
    : payload_slots_(payload_slots), code_slots_(code_slots), code_max_spec_(code_max_spec) {
  streams_[0] = Py_XNewRef(PySys_GetObject("stdout"));
  streams_[1] = Py_XNewRef(PySys_GetObject("stderr"));
  report_.reserve(kReportReserve);
  builtins_ = PyImport_ImportModule("builtins");
  const char* names[3] = {"__name__", "__builtins__", "__checker__"};
  for (int i = 0; i < 3; ++i) names_[i] = PyUnicode_InternFromString(names[i]);
  if (builtins_ == nullptr || !names_[0] || !names_[1] || !names_[2]) throw std::runtime_error("checker runtime: no builtins");
}

CheckerCaches::~CheckerCaches() {
  Py_XDECREF(streams_[0]);
  Py_XDECREF(streams_[1]);
  Py_XDECREF(builtins_);
  for (PyObject* name : names_) Py_XDECREF(name);
  for (auto& kv : payloads_) Py_XDECREF(kv.second.decoded);
  for (auto& kv : codes_) Py_XDECREF(kv.second);
}

void CheckerCaches::admit(const std::string& key, const char* data, size_t size) {
  if (payloads_.count(key) != 0) return;
  Payload entry;
  if (decode_laid_out(data, size, &entry.decoded) != mp::Status::kOk) {
    PyErr_Clear();
    if (mp::unpack(data, size, &entry.decoded) != mp::Status::kOk) {
      PyErr_Clear();
      entry.decoded = nullptr;
      entry.raw.assign(data, size);
    }
  }
#ifdef __GLIBC__
  malloc_trim(0);  // hand back the decoder's scratch: every resident page is mapped again by each fork
#endif
  payloads_.emplace(key, std::move(entry));
  payload_order_.push_back(key);
  while (payload_order_.size() > payload_slots_) {
    auto it = payloads_.find(payload_order_.front());
    Py_XDECREF(it->second.decoded);
    payloads_.erase(it);
    payload_order_.pop_front();
  }
  // Children never scan (and so never copy) the cached objects.
  PyObject* gc = quiet(PyImport_ImportModule("gc"));
  if (gc != nullptr) Py_XDECREF(quiet(PyObject_CallMethod(gc, "freeze", nullptr)));
  Py_XDECREF(gc);
}

void CheckerCaches::learn(const std::string& spec) {
  if (spec.size() > code_max_spec_ || codes_.count(spec) != 0) return;
  std::string_view source_text, entry_text;
  PyObject* code = nullptr;
  if (spec_parts(spec, &source_text, &entry_text)) {
    PyObject* source = unicode(source_text);
    code = source != nullptr ? compile_source(source) : nullptr;
    Py_XDECREF(source);
  }
  if (code == nullptr) {
    PyErr_Clear();  // the child reports a SyntaxError itself
    code = Py_NewRef(Py_None);
  }
  codes_.emplace(spec, code);
  code_order_.push_back(spec);
  while (code_order_.size() > code_slots_) {
    auto it = codes_.find(code_order_.front());
    Py_DECREF(it->second);
    codes_.erase(it);
    code_order_.pop_front();
  }
}

void CheckerCaches::run_child(std::string_view spec, const char* key, std::string_view payload,
                              size_t max_output) {
  std::string& out = report_;  // capacity reserved in the zygote: no malloc bookkeeping in the child
  try {
    Report r;
    PyObject *entry = nullptr, *arg = nullptr, *code = nullptr, *ns = nullptr, *result = nullptr;
    bool ran = false;
    std::string_view source_text, entry_text;
    if (!spec_parts(spec, &source_text, &entry_text)) {
      PyErr_SetString(PyExc_ValueError, "malformed job spec");
    } else if ((entry = unicode(entry_text)) != nullptr) {
      if (key != nullptr) {
        auto it = payloads_.find(std::string_view(key, 32));
        arg = it == payloads_.end() ? (PyErr_SetString(PyExc_KeyError, "payload not cached"), nullptr)
              : it->second.decoded != nullptr ? Py_NewRef(it->second.decoded)
                                              : decode_payload(it->second.raw);
      } else {
        arg = decode_payload(payload);
      }
      auto learned = codes_.find(spec);
      if (arg != nullptr && learned != codes_.end() && learned->second != Py_None) {
        code = Py_NewRef(learned->second);
      } else if (arg != nullptr) {
        PyObject* source = unicode(source_text);
        code = source != nullptr ? compile_source(source) : nullptr;
        Py_XDECREF(source);
      }
      ns = code != nullptr ? PyDict_New() : nullptr;
      const bool filled = ns != nullptr && PyDict_SetItem(ns, names_[0], names_[2]) == 0 &&
                          PyDict_SetItem(ns, names_[1], builtins_) == 0;
      PyObject* done = filled ? PyEval_EvalCode(code, ns, ns) : nullptr;
      if (done != nullptr) {
        Py_DECREF(done);
        PyObject* fn = PyDict_GetItemWithError(ns, entry);  // borrowed
        if (fn != nullptr && PyCallable_Check(fn)) {
          Py_INCREF(fn);
          result = PyObject_CallOneArg(fn, arg);
          Py_DECREF(fn);
          ran = result != nullptr;
        } else if (!PyErr_Occurred()) {
          r.status = "error";
          r.error_type = "NameError";
          r.message = PyUnicode_FromFormat("checker source defines no callable %R", entry);
        }
      }
    }
    if (ran) {
      r.status = "ok";
      r.value = result;
    } else if (r.status.empty()) {
      take_exception(&r);
    }
    if (!encode(r, &out)) {
      PyErr_Clear();
      out = encode_with_child_py(r, max_output);
    } else if (out.size() > max_output) {
      Report over;
      over.status = "bad_output";
      over.message = PyUnicode_FromFormat("result is %zu bytes, over the cap", out.size());
      if (over.message == nullptr || !encode(over, &out)) throw std::bad_alloc();
    }
    Py_XDECREF(result);
    Py_XDECREF(ns);
    Py_XDECREF(code);
    Py_XDECREF(arg);
    Py_XDECREF(entry);
  } catch (const std::bad_alloc&) {
    PyErr_Clear();
    out = memory_report();
  }
  deliver(out, streams_);
}

}  // namespace eigenfast::sandbox
