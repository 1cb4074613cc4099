// See payload_layout.h. Breadth-first, one level at a time: (A) list the level's children in order with their
// bucket (the shared key object they sit under; list items share one bucket), (B) create them grouped by
// bucket, containers first (empty shells, filled on the next level) then leaves, (C) fill each parent in its
// own order, so dict order and list order are kept. The CPython allocator hands out consecutive objects of one
// size class side by side, so creation order is layout.
#include "payload_layout.h"

#include <cstdint>
#include <new>
#include <unordered_map>
#include <vector>

namespace eigenfast::sandbox {
namespace {

bool is_container(PyObject* v) { return PyDict_CheckExact(v) || PyList_CheckExact(v); }

// A 64-bit int as a fresh object (small ints come back as CPython's shared ones); wider ints are shared.
PyObject* copy_int(PyObject* v) {
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
  if (overflow == 0) return x == -1 && PyErr_Occurred() ? nullptr : PyLong_FromLongLong(x);
  if (overflow > 0) {
    const unsigned long long u = PyLong_AsUnsignedLongLong(v);
    if (!PyErr_Occurred()) return PyLong_FromUnsignedLongLong(u);
    PyErr_Clear();
  }
  return Py_NewRef(v);
}

class Relayout {
 public:
  Relayout() : strs_(PyDict_New()), ints_(PyDict_New()) {}
  Relayout(const Relayout&) = delete;
  Relayout& operator=(const Relayout&) = delete;
  ~Relayout() {
    release();
    Py_XDECREF(strs_);
    Py_XDECREF(ints_);
  }

  PyObject* run(PyObject* root) {
    if (strs_ == nullptr || ints_ == nullptr) return nullptr;
    if (!is_container(root)) return leaf(root);
    PyObject* out = shell(root);
    if (out == nullptr) return nullptr;
    try {
      std::vector<Node> nodes{{root, out}}, next;
      while (!nodes.empty()) {
        next.clear();
        if (!level(nodes, &next)) {
          Py_DECREF(out);  // a partial tree: list slots not yet set are NULL, which deallocation skips
          return nullptr;
        }
        nodes.swap(next);
      }
    } catch (const std::bad_alloc&) {
      Py_DECREF(out);
      return PyErr_NoMemory();
    }
    return out;
  }

 private:
  struct Node {
    PyObject* src;
    PyObject* dst;  // borrowed: owned by its slot until its parent is filled, then by the parent
  };
  struct Slot {
    PyObject* src;   // borrowed from the source tree
    PyObject* key;   // owned shared key for a dict child; null for a list item
    PyObject* made;  // owned until handed to the parent
    uint32_t bucket;
  };

  // An equal, immutable object placed now: strs and ints shared by value, floats and bytes copied.
  PyObject* leaf(PyObject* v) {
    PyObject* cache;
    if (PyUnicode_CheckExact(v)) {
      cache = strs_;
    } else if (PyLong_CheckExact(v)) {
      cache = ints_;
    } else if (PyFloat_CheckExact(v)) {
      return PyFloat_FromDouble(PyFloat_AS_DOUBLE(v));
    } else if (PyBytes_CheckExact(v)) {
      return PyBytes_FromStringAndSize(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    } else {
      return Py_NewRef(v);  // None, bools, tuple keys
    }
    PyObject* hit = PyDict_GetItemWithError(cache, v);  // borrowed
    if (hit != nullptr) return Py_NewRef(hit);
    if (PyErr_Occurred()) return nullptr;
    PyObject* copy = cache == strs_ ? PyUnicode_FromKindAndData(PyUnicode_KIND(v), PyUnicode_DATA(v),
                                                                PyUnicode_GET_LENGTH(v))
                                    : copy_int(v);
    if (copy == nullptr || PyDict_SetItem(cache, copy, copy) < 0) {
      Py_XDECREF(copy);
      return nullptr;
    }
    return copy;
  }

  static PyObject* shell(PyObject* v) {
    return PyDict_CheckExact(v) ? PyDict_New() : PyList_New(PyList_GET_SIZE(v));
  }

  bool level(const std::vector<Node>& nodes, std::vector<Node>* next) {
    // (A) children in order, each with its bucket
    std::unordered_map<PyObject*, uint32_t> bucket_of;
    for (const Node& n : nodes) {
      if (PyDict_CheckExact(n.src)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(n.src, &pos, &k, &v)) {
          PyObject* key = leaf(k);
          if (key == nullptr) return false;
          slots_.push_back({v, key, nullptr, 0});
          slots_.back().bucket = bucket_of.emplace(key, uint32_t(bucket_of.size())).first->second;
        }
      } else {
        const uint32_t bucket = bucket_of.emplace(nullptr, uint32_t(bucket_of.size())).first->second;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(n.src); ++i) {
          slots_.push_back({PyList_GET_ITEM(n.src, i), nullptr, nullptr, bucket});
        }
      }
    }
    // (B) a stable counting sort on (leaf?, bucket), then create in that order
    const size_t buckets = bucket_of.size();
    auto rank = [buckets](const Slot& s) { return (is_container(s.src) ? 0 : buckets) + s.bucket; };
    std::vector<size_t> start(2 * buckets + 1, 0);
    for (const Slot& s : slots_) ++start[rank(s) + 1];
    for (size_t r = 1; r < start.size(); ++r) start[r] += start[r - 1];
    std::vector<uint32_t> order(slots_.size());
    for (uint32_t i = 0; i < slots_.size(); ++i) order[start[rank(slots_[i])]++] = i;
    for (const uint32_t i : order) {
      Slot& s = slots_[i];
      const bool container = is_container(s.src);
      s.made = container ? shell(s.src) : leaf(s.src);
      if (s.made == nullptr) return false;
      if (container) next->push_back({s.src, s.made});
    }
    // (C) each parent filled in its own order
    size_t at = 0;
    for (const Node& n : nodes) {
      if (PyDict_CheckExact(n.src)) {
        for (Py_ssize_t i = 0, len = PyDict_GET_SIZE(n.src); i < len; ++i, ++at) {
          if (PyDict_SetItem(n.dst, slots_[at].key, slots_[at].made) < 0) return false;
        }
      } else {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(n.src); ++i, ++at) {
          PyList_SET_ITEM(n.dst, i, slots_[at].made);  // steals
          slots_[at].made = nullptr;
        }
      }
    }
    release();
    return true;
  }

  // Drops the references the slots still own (dict children were increfed by their parent).
  void release() {
    for (Slot& s : slots_) {
      Py_XDECREF(s.key);
      Py_XDECREF(s.made);
    }
    slots_.clear();
  }

  PyObject* strs_;
  PyObject* ints_;
  std::vector<Slot> slots_;
};

}  // namespace

PyObject* relayout(PyObject* root) {
  const int gc_was_enabled = PyGC_Disable();  // no collections over the half-built copy
  PyObject* out;
  {
    Relayout r;
    out = r.run(root);
  }
  if (gc_was_enabled) PyGC_Enable();
  return out;
}

}  // namespace eigenfast::sandbox
