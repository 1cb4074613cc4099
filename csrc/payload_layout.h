// How a cached payload is laid out in the zygote's heap. A checker reads the payload through a fresh fork, and
// in CPython every read writes: the refcount in the object header. So each page holding an object the checker
// visits is copied once per check. A decoded payload is in depth-first order, with each record's containers and
// leaves side by side, and a checker that scans one field of every record copies nearly every page of the
// collection. relayout() rebuilds the payload level by level, grouping the objects of a level by the key they
// sit under (all reservation dicts together, then every `passengers` list, ...), containers before leaves, and
// it shares one object among equal strings and ints. A scan then copies the pages of the objects it visits.
#pragma once

#include <Python.h>

namespace eigenfast::sandbox {

// A new reference to a deep copy of root (dicts, lists and immutable leaves, as pymsgpack decodes them) that is
// equal to it, with dict order kept; or null with a Python exception set. Tuples and other leaves are shared
// with root, not copied.
PyObject* relayout(PyObject* root);

}  // namespace eigenfast::sandbox
