// msgpack <-> CPython objects (see pymsgpack.h). One recursive pass each way; lengths read from the input are
// checked against the bytes left before anything is allocated.
#include "pymsgpack.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <new>

namespace eigenfast::pymsgpack {
namespace {

namespace py = pybind11;

// ---------------------------------------------------------------------------------------------------- decoding

class Decoder {
 public:
  Decoder(const char* data, size_t size)
      : start_(reinterpret_cast<const uint8_t*>(data)), p_(start_), end_(start_ + size) {}
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  ~Decoder() {
    if (keys_) {
      for (size_t i = 0; i < kKeySlots; ++i) Py_XDECREF(keys_[i].obj);
    }
  }

  Status document(PyObject** out) {
    *out = nullptr;
    PyObject* obj = nullptr;
    Status s = value(&obj, 0, false);
    if (s != Status::kOk) return s;
    if (p_ != end_) {
      Py_DECREF(obj);
      return malformed("trailing bytes", offset(p_));
    }
    *out = obj;
    return Status::kOk;
  }

  size_t unsupported_at() const { return unsupported_at_; }
  bool too_deep() const { return too_deep_; }

 private:
  size_t offset(const uint8_t* p) const { return size_t(p - start_); }
  size_t left() const { return size_t(end_ - p_); }

  Status malformed(const char* what, size_t at) {
    PyErr_Format(PyExc_ValueError, "malformed msgpack: %s at offset %zu", what, at);
    return Status::kError;
  }
  Status truncated(size_t at) { return malformed("truncated input", at); }
  Status unsupported(size_t at, bool too_deep) {
    unsupported_at_ = at;
    too_deep_ = too_deep;
    return Status::kUnsupported;
  }

  // Reads an n-byte big-endian unsigned integer; the caller has checked that n bytes are left.
  uint64_t be(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | p_[i];
    p_ += n;
    return v;
  }

  static Status made(PyObject* obj, PyObject** out) {
    *out = obj;
    return obj ? Status::kOk : Status::kError;
  }

  Status value(PyObject** out, int depth, bool key) {
    if (p_ >= end_) return truncated(offset(p_));
    const size_t at = offset(p_);
    const uint8_t b = *p_++;
    if (b <= 0x7f) return made(PyLong_FromLong(b), out);
    if (b >= 0xe0) return made(PyLong_FromLong(int8_t(b)), out);
    if (b <= 0x8f) return map(b & 0x0f, at, out, depth);
    if (b <= 0x9f) return array(b & 0x0f, at, out, depth, key);
    if (b <= 0xbf) return key ? key_str(b & 0x1f, at, out) : str(b & 0x1f, at, out);
    // Header bytes 0xc0..0xdf: the payload width in bytes, for the formats that carry a number or a length.
    static constexpr int kWidth[32] = {0, 0, 0, 0, 1, 2, 4, 0, 0, 0, 4, 8, 1, 2, 4, 8,
                                       1, 2, 4, 8, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4};
    const int width = kWidth[b - 0xc0];
    if (left() < size_t(width)) return truncated(at);
    switch (b) {
      case 0xc0: Py_INCREF(Py_None); *out = Py_None; return Status::kOk;
      case 0xc1: return malformed("reserved byte 0xc1", at);
      case 0xc2: Py_INCREF(Py_False); *out = Py_False; return Status::kOk;
      case 0xc3: Py_INCREF(Py_True); *out = Py_True; return Status::kOk;
      case 0xc4: case 0xc5: case 0xc6: return bin(be(width), at, out);
      case 0xca: {
        uint32_t bits = uint32_t(be(4));
        float f;
        std::memcpy(&f, &bits, 4);
        return made(PyFloat_FromDouble(double(f)), out);
      }
      case 0xcb: {
        uint64_t bits = be(8);
        double d;
        std::memcpy(&d, &bits, 8);
        return made(PyFloat_FromDouble(d), out);
      }
      case 0xcc: case 0xcd: case 0xce: case 0xcf:
        return made(PyLong_FromUnsignedLongLong(be(width)), out);
      case 0xd0: return made(PyLong_FromLong(int8_t(be(1))), out);
      case 0xd1: return made(PyLong_FromLong(int16_t(be(2))), out);
      case 0xd2: return made(PyLong_FromLong(int32_t(be(4))), out);
      case 0xd3: return made(PyLong_FromLongLong(int64_t(be(8))), out);
      case 0xd9: case 0xda: case 0xdb: return key ? key_str(be(width), at, out) : str(be(width), at, out);
      case 0xdc: case 0xdd: return array(be(width), at, out, depth, key);
      case 0xde: case 0xdf: return map(be(width), at, out, depth);
      default: return unsupported(at, false);  // ext 0xc7..0xc9 and fixext 0xd4..0xd8, timestamps included
    }
  }

  Status str(uint64_t n, size_t at, PyObject** out) {
    if (n > left()) return truncated(at);
    const char* s = reinterpret_cast<const char*>(p_);
    p_ += n;
    return made(PyUnicode_DecodeUTF8(s, Py_ssize_t(n), nullptr), out);
  }

  // Map keys repeat (every record of a DB has the same field names): short ones share one str object, as
  // msgspec's key cache does, which roughly halves a decoded DB and the pages a forked child maps.
  Status key_str(uint64_t n, size_t at, PyObject** out) {
    if (n > kMaxCachedKey || n > left() || size_t(end_ - start_) < kMinCachedInput) return str(n, at, out);
    if (!keys_) keys_.reset(new (std::nothrow) KeySlot[kKeySlots]);
    if (!keys_) return str(n, at, out);
    uint32_t h = 2166136261u;  // FNV-1a
    for (uint64_t i = 0; i < n; ++i) h = (h ^ p_[i]) * 16777619u;
    KeySlot& slot = keys_[h % kKeySlots];
    if (slot.obj != nullptr && slot.size == n && std::memcmp(slot.bytes, p_, n) == 0) {
      p_ += n;
      Py_INCREF(slot.obj);
      *out = slot.obj;
      return Status::kOk;
    }
    const uint8_t* bytes = p_;
    const Status st = str(n, at, out);
    if (st == Status::kOk) {
      Py_XDECREF(slot.obj);
      Py_INCREF(*out);
      slot = {*out, bytes, size_t(n)};
    }
    return st;
  }

  Status bin(uint64_t n, size_t at, PyObject** out) {
    if (n > left()) return truncated(at);
    const char* s = reinterpret_cast<const char*>(p_);
    p_ += n;
    return made(PyBytes_FromStringAndSize(s, Py_ssize_t(n)), out);
  }

  // Arrays decode to lists, but to tuples inside a map key (hashable, as msgspec does).
  Status array(uint64_t n, size_t at, PyObject** out, int depth, bool key) {
    if (depth >= kMaxDepth) return unsupported(at, true);
    if (n > left()) return truncated(at);  // every item takes at least one byte
    PyObject* seq = key ? PyTuple_New(Py_ssize_t(n)) : PyList_New(Py_ssize_t(n));
    if (!seq) return Status::kError;
    for (uint64_t i = 0; i < n; ++i) {
      PyObject* item = nullptr;
      Status s = value(&item, depth + 1, key);
      if (s != Status::kOk) {
        Py_DECREF(seq);  // unset slots are NULL, which list and tuple deallocation skip
        return s;
      }
      if (key) {
        PyTuple_SET_ITEM(seq, Py_ssize_t(i), item);
      } else {
        PyList_SET_ITEM(seq, Py_ssize_t(i), item);
      }
    }
    *out = seq;
    return Status::kOk;
  }

  Status map(uint64_t n, size_t at, PyObject** out, int depth) {
    if (depth >= kMaxDepth) return unsupported(at, true);
    if (n > left() / 2) return truncated(at);  // every entry takes at least two bytes
    PyObject* dict = PyDict_New();
    if (!dict) return Status::kError;
    for (uint64_t i = 0; i < n; ++i) {
      const size_t key_at = offset(p_);
      PyObject* k = nullptr;
      PyObject* v = nullptr;
      Status s = value(&k, depth + 1, true);
      if (s == Status::kOk) s = value(&v, depth + 1, false);
      if (s == Status::kOk && PyDict_SetItem(dict, k, v) < 0) {
        s = Status::kError;
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {  // unhashable key: a map, or a map inside an array
          PyErr_Clear();
          malformed("unhashable map key", key_at);
        }
      }
      Py_XDECREF(k);
      Py_XDECREF(v);
      if (s != Status::kOk) {
        Py_DECREF(dict);
        return s;
      }
    }
    *out = dict;
    return Status::kOk;
  }

  static constexpr uint64_t kMaxCachedKey = 32;
  static constexpr size_t kMinCachedInput = 4096;  // small inputs (a child's spec and payload) skip the cache
  static constexpr size_t kKeySlots = 512;
  struct KeySlot {
    PyObject* obj = nullptr;  // owned
    const uint8_t* bytes = nullptr;  // the key's first occurrence in the input
    size_t size = 0;
  };

  const uint8_t* start_;
  const uint8_t* p_;
  const uint8_t* end_;
  std::unique_ptr<KeySlot[]> keys_;
  size_t unsupported_at_ = 0;
  bool too_deep_ = false;
};

// ---------------------------------------------------------------------------------------------------- encoding

// Only exact builtin types are packed, so no Python code (no __hash__, __del__ via GC, or other hook) runs while
// a container is walked, and borrowed references stay valid.
class Encoder {
 public:
  explicit Encoder(std::string* buf) : buf_(*buf), len_(buf->size()) {}
  ~Encoder() { buf_.resize(len_); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Why the last kUnsupported happened, for the binding's TypeError.
  std::string unsupported_reason() const {
    if (!unsupported_type_) return "";
    std::string why = std::string("unsupported type ") + unsupported_type_->tp_name;
    return detail_ ? why + " (" + detail_ + ")" : why;
  }

  // A str from UTF-8 bytes, with no Python object in between; false past 2**32 - 1 bytes.
  bool utf8(std::string_view s) {
    if (s.size() > 0xffffffffu) return false;
    header(s.size(), 0xa0, 32, 0xd9, 0xda, nullptr);
    raw(s.data(), s.size());
    return true;
  }

  Status value(PyObject* obj, int depth) {
    PyTypeObject* t = Py_TYPE(obj);
    if (t == &PyUnicode_Type) return str(obj);
    if (t == &PyLong_Type) return integer(obj);
    if (t == &PyDict_Type) return dict(obj, depth);
    if (t == &PyList_Type) return sequence(obj, PyList_GET_SIZE(obj), PySequence_Fast_ITEMS(obj), depth);
    if (t == &PyTuple_Type) return sequence(obj, PyTuple_GET_SIZE(obj), PySequence_Fast_ITEMS(obj), depth);
    if (obj == Py_None) return byte(0xc0);
    if (obj == Py_True) return byte(0xc3);
    if (obj == Py_False) return byte(0xc2);
    if (t == &PyFloat_Type) {
      uint64_t bits;
      double d = PyFloat_AS_DOUBLE(obj);
      std::memcpy(&bits, &d, 8);
      code(0xcb, bits, 8);
      return Status::kOk;
    }
    if (t == &PyBytes_Type) return bin(PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj), obj);
    if (t == &PyByteArray_Type) return bin(PyByteArray_AS_STRING(obj), PyByteArray_GET_SIZE(obj), obj);
    return unsupported(obj);
  }

 private:
  Status unsupported(PyObject* obj, const char* detail = nullptr) {
    unsupported_type_ = Py_TYPE(obj);
    detail_ = detail;
    return Status::kUnsupported;
  }

  // Reserves n bytes at the end of the output. Writing through a raw pointer into a buffer grown ahead (and
  // trimmed by the destructor) is about twice as fast as push_back per byte.
  char* room(size_t n) {
    if (buf_.size() - len_ < n) buf_.resize(std::max(2 * buf_.size(), len_ + n + 64));
    char* p = &buf_[len_];
    len_ += n;
    return p;
  }

  Status byte(uint8_t b) {
    *room(1) = char(b);
    return Status::kOk;
  }

  // A format code followed by v as an n-byte big-endian number.
  void code(uint8_t c, uint64_t v, int n) {
    char* p = room(size_t(1 + n));
    p[0] = char(c);
    for (int i = n; i >= 1; --i, v >>= 8) p[i] = char(v & 0xff);
  }

  void raw(const char* s, size_t n) {
    if (n) std::memcpy(room(n), s, n);
  }

  // The smallest header for a length, as msgspec writes it: the fix form for n < fix_count, else the 8/16/32-bit
  // form. code8 == 0: no 8-bit form (arrays, maps); the 32-bit code always follows the 16-bit one.
  bool header(size_t n, uint8_t fix, size_t fix_count, uint8_t code8, uint8_t code16, PyObject* obj) {
    if (n < fix_count) {
      *room(1) = char(fix | n);
    } else if (code8 && n <= 0xff) {
      code(code8, n, 1);
    } else if (n <= 0xffff) {
      code(code16, n, 2);
    } else if (n <= 0xffffffffu) {
      code(code16 + 1, n, 4);
    } else {
      unsupported(obj, "length over 2**32 - 1");
      return false;
    }
    return true;
  }

  Status integer(PyObject* obj) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow == 0) {
      if (v == -1 && PyErr_Occurred()) return Status::kError;
      if (v >= 0) return unsigned_int(uint64_t(v));
      if (v >= -32) return byte(uint8_t(int8_t(v)));
      if (v >= INT8_MIN) {
        code(0xd0, uint64_t(v), 1);
      } else if (v >= INT16_MIN) {
        code(0xd1, uint64_t(v), 2);
      } else if (v >= INT32_MIN) {
        code(0xd2, uint64_t(v), 4);
      } else {
        code(0xd3, uint64_t(v), 8);
      }
      return Status::kOk;
    }
    if (overflow < 0) return unsupported(obj, kIntRange);
    unsigned long long u = PyLong_AsUnsignedLongLong(obj);
    if (u == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return Status::kError;
      PyErr_Clear();
      return unsupported(obj, kIntRange);
    }
    return unsigned_int(u);
  }

  Status unsigned_int(uint64_t v) {
    if (v <= 0x7f) return byte(uint8_t(v));
    if (v <= 0xff) {
      code(0xcc, v, 1);
    } else if (v <= 0xffff) {
      code(0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
      code(0xce, v, 4);
    } else {
      code(0xcf, v, 8);
    }
    return Status::kOk;
  }

  Status str(PyObject* obj) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(obj, &n);  // a lone surrogate raises UnicodeEncodeError
    if (!s) return Status::kError;
    if (!header(size_t(n), 0xa0, 32, 0xd9, 0xda, obj)) return Status::kUnsupported;
    raw(s, size_t(n));
    return Status::kOk;
  }

  Status bin(const char* s, Py_ssize_t n, PyObject* obj) {
    if (!header(size_t(n), 0, 0, 0xc4, 0xc5, obj)) return Status::kUnsupported;
    raw(s, size_t(n));
    return Status::kOk;
  }

  Status sequence(PyObject* obj, Py_ssize_t n, PyObject** items, int depth) {
    if (depth >= kMaxDepth) return too_deep(obj);
    if (!header(size_t(n), 0x90, 16, 0, 0xdc, obj)) return Status::kUnsupported;
    for (Py_ssize_t i = 0; i < n; ++i) {
      Status s = value(items[i], depth + 1);
      if (s != Status::kOk) return s;
    }
    return Status::kOk;
  }

  Status dict(PyObject* obj, int depth) {
    if (depth >= kMaxDepth) return too_deep(obj);
    if (!header(size_t(PyDict_GET_SIZE(obj)), 0x80, 16, 0, 0xde, obj)) return Status::kUnsupported;
    Py_ssize_t pos = 0;
    PyObject* k = nullptr;
    PyObject* v = nullptr;
    while (PyDict_Next(obj, &pos, &k, &v)) {
      Status s = value(k, depth + 1);
      if (s == Status::kOk) s = value(v, depth + 1);
      if (s != Status::kOk) return s;
    }
    return Status::kOk;
  }

  Status too_deep(PyObject* obj) {
    static_assert(kMaxDepth == 256, "keep the message in step");
    return unsupported(obj, "nested deeper than 256 containers");
  }

  static constexpr const char* kIntRange = "outside the int64/uint64 range";

  std::string& buf_;
  size_t len_;  // bytes written; buf_ holds spare room past it until the destructor trims it
  PyTypeObject* unsupported_type_ = nullptr;
  const char* detail_ = nullptr;
};

}  // namespace

Status unpack(const char* data, size_t size, PyObject** out) { return Decoder(data, size).document(out); }

Status pack(PyObject* obj, std::string* buf) { return Encoder(buf).value(obj, 0); }

bool pack_utf8(std::string_view s, std::string* buf) { return Encoder(buf).utf8(s); }

static uint64_t big_endian(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

bool read_header(const uint8_t* p, const uint8_t* end, Header* h) {
  *h = Header{};
  const uint8_t b = *p;
  if (b <= 0x7f || b >= 0xe0) return true;
  if (b <= 0x9f) {
    h->map = b <= 0x8f;
    h->container = true;
    h->items = uint64_t(b & 0x0f) * (h->map ? 2 : 1);
    return true;
  }
  if (b <= 0xbf) {
    h->body = b & 0x1f;
    return true;
  }
  size_t width = 0;  // bytes of length or count after the type byte
  switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return true;
    case 0xc1: return false;
    case 0xca: h->size = 5; break;
    case 0xcb: h->size = 9; break;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: h->size = 1 + (size_t(1) << (b - 0xcc)); break;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: h->size = 1 + (size_t(1) << (b - 0xd0)); break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:  // fixext: a type byte and 1..16 data bytes
      h->size = 2;
      h->body = uint64_t(1) << (b - 0xd4);
      break;
    case 0xc4: case 0xd9: width = 1; break;
    case 0xc5: case 0xda: case 0xdc: case 0xde: width = 2; break;
    case 0xc6: case 0xdb: case 0xdd: case 0xdf: width = 4; break;
    case 0xc7: case 0xc8: case 0xc9: width = size_t(1) << (b - 0xc7); break;  // ext: then a type byte
    default: return false;
  }
  if (width == 0) return size_t(end - p) >= h->size;
  h->size = 1 + width + (b >= 0xc7 && b <= 0xc9 ? 1 : 0);
  if (size_t(end - p) < h->size) return false;
  const uint64_t n = big_endian(p + 1, width);
  if (b >= 0xdc) {
    h->map = b >= 0xde;
    h->container = true;
    h->items = n * (h->map ? 2 : 1);
  } else {
    h->body = n;
  }
  return true;
}

const uint8_t* skip(const uint8_t* p, const uint8_t* end) {
  uint64_t pending = 1;
  Header h;
  while (pending > 0) {
    if (p >= end || !read_header(p, end, &h)) return nullptr;
    p += h.size;
    if (h.body > uint64_t(end - p)) return nullptr;
    p += h.body;
    pending += h.items - 1;
    if (pending > uint64_t(end - p)) return nullptr;  // every value still to come takes a byte at least
  }
  return p;
}

bool read_utf8(const char** p, const char* end, std::string_view* out) {
  const auto* q = reinterpret_cast<const uint8_t*>(*p);
  const auto* e = reinterpret_cast<const uint8_t*>(end);
  if (q >= e) return false;
  const uint8_t b = *q++;
  size_t n = 0, width = 0;
  if ((b & 0xe0) == 0xa0) {
    n = b & 0x1f;
  } else if (b >= 0xd9 && b <= 0xdb) {
    width = size_t(1) << (b - 0xd9);
  } else {
    return false;
  }
  if (size_t(e - q) < width) return false;
  for (size_t i = 0; i < width; ++i) n = (n << 8) | *q++;
  if (size_t(e - q) < n) return false;
  *out = std::string_view(reinterpret_cast<const char*>(q), n);
  *p = reinterpret_cast<const char*>(q + n);
  return true;
}

void bind(py::module_& m) {
  m.def(
      "msgpack_pack",
      [](py::handle obj) {
        std::string buf, why;
        Status s;
        {
          Encoder enc(&buf);  // trims buf when it goes out of scope
          s = enc.value(obj.ptr(), 0);
          if (s == Status::kUnsupported) why = enc.unsupported_reason();
        }
        if (s == Status::kError) throw py::error_already_set();
        if (s == Status::kUnsupported) throw py::type_error(why);
        return py::bytes(buf);
      },
      py::arg("obj"), "msgpack bytes of obj, equal to msgspec.msgpack.encode on the fast subset.");
  m.def(
      "msgpack_unpack",
      [](py::handle data) {
        Py_buffer view;
        if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) < 0) throw py::error_already_set();
        Decoder dec(static_cast<const char*>(view.buf), size_t(view.len));
        PyObject* out = nullptr;
        Status s = dec.document(&out);
        PyBuffer_Release(&view);
        if (s == Status::kError) throw py::error_already_set();
        if (s == Status::kUnsupported) {
          const std::string at = std::to_string(dec.unsupported_at());
          if (dec.too_deep()) {
            throw py::value_error("unsupported msgpack nesting deeper than " + std::to_string(kMaxDepth) +
                                  " containers at offset " + at);
          }
          throw py::value_error("unsupported msgpack ext type at offset " + at);
        }
        return py::reinterpret_steal<py::object>(out);
      },
      py::arg("data"), "The value msgpack data decodes to, equal to msgspec's default Decoder on the fast subset.");
}

}  // namespace eigenfast::pymsgpack
