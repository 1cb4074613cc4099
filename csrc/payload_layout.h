// How a cached payload is laid out in the zygote's heap. A checker reads the payload through a fresh fork, and
// in CPython every read writes: the refcount in the object header. So each page holding an object the checker
// visits is copied once per check. Decoded depth first, each record's containers and leaves sit side by side,
// and a checker that scans one field of every record copies nearly every page of the collection.
// decode_laid_out() builds the payload level by level instead, grouping the objects of a level by the key they
// sit under (all reservation dicts together, then every `passengers` list, ...), containers before leaves, and
// it makes one object of leaves with the same encoding (repeated strings, ints, bytes). A scan then copies
// the pages of the objects it visits, and the payload is smaller.
#pragma once

#include <Python.h>

#include <cstddef>

#include "pymsgpack.h"

namespace eigenfast::sandbox {

// Decodes one msgpack document into *out (a new reference) equal to what pymsgpack::unpack gives. Returns
// kUnsupported for what it does not lay out (map keys that are containers, ext types, nesting past
// pymsgpack::kMaxDepth, documents so deep that rescanning each level would cost over 16 times their size) and
// kError, with a Python exception set, for malformed input; callers then use
// pymsgpack::unpack, which reports those cases itself.
pymsgpack::Status decode_laid_out(const char* data, size_t size, PyObject** out);

}  // namespace eigenfast::sandbox
