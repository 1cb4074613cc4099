// See payload_layout.h. Breadth first, one level of containers at a time: (A) list the level's children in
// order with their bucket (the shared key object they sit under; array items share one bucket), (B) create
// them grouped by bucket, containers first (empty, filled on the next level) then leaves, (C) fill each parent
// in its own order, so map order, duplicate keys and array order come out as pymsgpack::unpack gives them. The
// CPython allocator hands out consecutive objects of one size class side by side, so creation order is layout.
// Leaves are decoded by pymsgpack::unpack itself, one encoded scalar at a time.
#include "payload_layout.h"

#include <cstdint>
#include <new>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eigenfast::sandbox {
namespace {

namespace mp = eigenfast::pymsgpack;
using mp::Header;
using mp::Status;
using mp::read_header;
using mp::skip;

class Decoder {
 public:
  Decoder(const uint8_t* start, const uint8_t* end) : start_(start), end_(end) {}
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  ~Decoder() {
    release();
    for (auto& kv : leaves_) Py_DECREF(kv.second);
  }

  Status run(PyObject** out) {
    if (skip(start_, end_) != end_) {
      PyErr_SetString(PyExc_ValueError, "malformed msgpack");
      return Status::kError;
    }
    Header h;
    read_header(start_, end_, &h);
    if (!h.container) return leaf(start_, end_, out);
    PyObject* root = shell(start_);
    if (root == nullptr) return Status::kError;
    try {
      std::vector<Node> nodes{{start_, root}}, next;
      for (int depth = 0; !nodes.empty(); ++depth) {
        next.clear();
        const Status s = depth >= mp::kMaxDepth ? Status::kUnsupported : level(nodes, &next);
        if (s != Status::kOk) {
          Py_DECREF(root);  // a partial tree: list slots not yet set are NULL, which deallocation skips
          return s;
        }
        nodes.swap(next);
      }
    } catch (const std::bad_alloc&) {
      Py_DECREF(root);
      PyErr_NoMemory();
      return Status::kError;
    }
    *out = root;
    return Status::kOk;
  }

 private:
  struct Node {
    const uint8_t* at;  // the container's header
    PyObject* dst;      // borrowed: owned by its slot until its parent is filled, then by the parent
  };
  struct Slot {
    const uint8_t* at;   // the value's encoding, up to end
    const uint8_t* end;
    PyObject* key;       // owned, shared key for a map value; null for an array item
    PyObject* made;      // owned until handed to the parent
    uint32_t bucket;
    bool container;
  };

  // The leaf encoded in [at, end): one object per distinct encoding (floats excepted).
  Status leaf(const uint8_t* at, const uint8_t* end, PyObject** out) {
    const std::string_view enc(reinterpret_cast<const char*>(at), size_t(end - at));
    auto hit = leaves_.find(enc);
    if (hit != leaves_.end()) {
      *out = Py_NewRef(hit->second);
      return Status::kOk;
    }
    const Status s = mp::unpack(enc.data(), enc.size(), out);
    const bool real = *at == 0xca || *at == 0xcb;  // one object for two NaN map keys would merge them
    if (s == Status::kOk && !real) leaves_.emplace(enc, Py_NewRef(*out));
    return s;
  }

  PyObject* shell(const uint8_t* at) const {
    Header h;
    read_header(at, end_, &h);
    return h.map ? PyDict_New() : PyList_New(Py_ssize_t(h.items));
  }

  Status level(const std::vector<Node>& nodes, std::vector<Node>* next) {
    // (A) children in order, each with its bucket
    std::unordered_map<PyObject*, uint32_t> bucket_of;
    Header h, child;
    for (const Node& n : nodes) {
      read_header(n.at, end_, &h);
      const uint8_t* p = n.at + h.size;
      const uint32_t items_bucket = h.map ? 0 : bucket_of.emplace(nullptr, uint32_t(bucket_of.size())).first->second;
      for (uint64_t i = 0, count = h.map ? h.items / 2 : h.items; i < count; ++i) {
        PyObject* key = nullptr;
        if (h.map) {
          read_header(p, end_, &child);
          if (child.container) return Status::kUnsupported;  // tuple keys (or unhashable ones): unpack's job
          const uint8_t* key_end = skip(p, end_);
          const Status s = leaf(p, key_end, &key);
          if (s != Status::kOk) return s;
          p = key_end;
        }
        read_header(p, end_, &child);
        const uint8_t* value_end = skip(p, end_);
        if ((rescanned_ += size_t(value_end - p)) > budget_) return Status::kUnsupported;
        slots_.push_back({p, value_end, key, nullptr, items_bucket, child.container});
        if (key != nullptr) slots_.back().bucket = bucket_of.emplace(key, uint32_t(bucket_of.size())).first->second;
        p = value_end;
      }
    }
    // (B) a stable counting sort on (leaf?, bucket), then create in that order
    const size_t buckets = bucket_of.size();
    auto rank = [buckets](const Slot& s) { return (s.container ? 0 : buckets) + s.bucket; };
    std::vector<size_t> start(2 * buckets + 1, 0);
    for (const Slot& s : slots_) ++start[rank(s) + 1];
    for (size_t r = 1; r < start.size(); ++r) start[r] += start[r - 1];
    std::vector<uint32_t> order(slots_.size());
    for (uint32_t i = 0; i < slots_.size(); ++i) order[start[rank(slots_[i])]++] = i;
    for (const uint32_t i : order) {
      Slot& s = slots_[i];
      if (s.container) {
        if ((s.made = shell(s.at)) == nullptr) return Status::kError;
        next->push_back({s.at, s.made});
      } else {
        const Status st = leaf(s.at, s.end, &s.made);
        if (st != Status::kOk) return st;
      }
    }
    // (C) each parent filled in its own order
    size_t at = 0;
    for (const Node& n : nodes) {
      read_header(n.at, end_, &h);
      if (h.map) {
        for (uint64_t i = 0; i < h.items / 2; ++i, ++at) {
          if (PyDict_SetItem(n.dst, slots_[at].key, slots_[at].made) < 0) return Status::kError;
        }
      } else {
        for (uint64_t i = 0; i < h.items; ++i, ++at) {
          PyList_SET_ITEM(n.dst, Py_ssize_t(i), slots_[at].made);  // steals
          slots_[at].made = nullptr;
        }
      }
    }
    release();
    return Status::kOk;
  }

  // Drops the references the slots still own (map values were increfed by their parent).
  void release() {
    for (Slot& s : slots_) {
      Py_XDECREF(s.key);
      Py_XDECREF(s.made);
    }
    slots_.clear();
  }

  const uint8_t* start_;
  const uint8_t* end_;
  // Each level skips over the encodings below it once more: fine for records a few levels deep, but a
  // document nested hundreds deep would cost its size times its depth. Past this budget, unpack (one pass)
  // decodes it instead.
  size_t rescanned_ = 0;
  const size_t budget_ = 16 * size_t(end_ - start_) + 4096;
  std::vector<Slot> slots_;
  std::unordered_map<std::string_view, PyObject*> leaves_;  // owned values, keyed by their encoding
};

}  // namespace

Status decode_laid_out(const char* data, size_t size, PyObject** out) {
  *out = nullptr;
  const auto* start = reinterpret_cast<const uint8_t*>(data);
  const int gc_was_enabled = PyGC_Disable();  // no collections over the half-built tree
  Status s;
  {
    Decoder d(start, start + size);
    s = d.run(out);
  }
  if (gc_was_enabled) PyGC_Enable();
  return s;
}

}  // namespace eigenfast::sandbox
