// A small msgpack codec straight between bytes and CPython objects, for the sandbox zygote: importing msgspec
// there would grow every forked checker child. It covers the subset checkers exchange (None, bool, int64/uint64,
// float, str, bytes, list/tuple, dict) and matches msgspec's default encode/decode byte for byte on it;
// anything else reports kUnsupported so the caller can fall back to msgspec. No global state and no calls into
// Python code, so it is safe in a freshly forked child.
#pragma once

#include <pybind11/pybind11.h>  // brings <Python.h> first, as CPython requires

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace eigenfast::pymsgpack {

// Status of a decode/encode: kOk; kUnsupported = valid msgpack/Python value outside the fast subset (the caller
// falls back to msgspec); kError = malformed input (a Python exception is set, ValueError naming the byte offset).
enum class Status { kOk, kUnsupported, kError };

// Containers nested deeper than this report kUnsupported (self-referencing containers end up here too).
constexpr int kMaxDepth = 256;

// Decodes one complete msgpack value (trailing bytes are an error) into a new reference in *out.
Status unpack(const char* data, size_t size, PyObject** out);

// Appends the msgpack encoding of obj to *buf. On kUnsupported/kError *buf may hold partial output.
Status pack(PyObject* obj, std::string* buf);

// Appends a msgpack str holding these UTF-8 bytes (smallest header, as msgspec); false past 2**32 - 1 bytes.
bool pack_utf8(std::string_view s, std::string* buf);

// Reads one msgpack str at *p (any str header) as a view into the input, advancing *p; false if the bytes at
// *p are not a complete str. The UTF-8 is not validated.
bool read_utf8(const char** p, const char* end, std::string_view* out);

// One msgpack header, for walking an encoding without decoding it: its own size, the bytes after it that belong
// to it (str, bin, ext) and the values that follow it (array: n, map: 2n).
struct Header {
  size_t size = 1;
  uint64_t body = 0;
  uint64_t items = 0;
  bool map = false;
  bool container = false;
};

// Reads the header at p (p < end); false for the reserved byte or a header cut short by end.
bool read_header(const uint8_t* p, const uint8_t* end, Header* h);

// The end of the value at p, or null if it is malformed or runs past end.
const uint8_t* skip(const uint8_t* p, const uint8_t* end);

// Adds `msgpack_pack(obj) -> bytes` and `msgpack_unpack(data: bytes) -> object` to module m; both raise
// TypeError (pack) / ValueError (unpack) naming the problem, including for kUnsupported ("unsupported type X" /
// "unsupported msgpack ext type at offset N").
void bind(pybind11::module_& m);

}  // namespace eigenfast::pymsgpack
