"""Copy-on-write JSON state with a cached structural hash.

tau²-bench rebuilds and re-serialises the whole DB several times per evaluated task; that dominates its run
time. Here a domain's DB is parsed once into a frozen *base* tree, and every environment gets a `Store` that
shares the base and copies only the containers on the path to what it writes.

Hashing is memoised and independent of dict key order (as tau²'s `sort_keys=True`). A list hashes its items in
order. A dict at the top two levels (the root and its tables) hashes to the sum (mod 2^128) of one hash per
(key, value) entry, so a written copy of a big base table is re-hashed from the base table's cached sum plus
only the entries that differ (found by identity). Records below that hash as one sorted-key msgpack encoding.
Base hashes are cached for good (the base never changes), so hashing a store costs about O(what was written).

Rule for tool code: read freely through `store.data`, but mutate only what `store.edit(...)` returned, and add
or remove keys/items only on containers returned by `edit`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_enc = msgspec.msgpack.Encoder()
_MASK = (1 << 128) - 1
_MISSING = object()
_key_hashes: dict[str, bytes] = {}


def _leaf_hash(value: Any) -> bytes:
    # bool/int/float/str/None: type-tagged so 1, 1.0, True and "1" differ.
    return hashlib.blake2b(type(value).__name__.encode() + b":" + _enc.encode(value), digest_size=16).digest()


def _key_hash(key: Any) -> bytes:
    if type(key) is str:
        cached = _key_hashes.get(key)
        if cached is None:
            if len(_key_hashes) > 1 << 20:
                _key_hashes.clear()
            cached = _key_hashes[key] = _leaf_hash(key)
        return cached
    return _leaf_hash(key)


def _entry(key: Any, value_hash: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(_key_hash(key) + value_hash, digest_size=16).digest(), "little")


def _dict_digest(total: int, size: int) -> bytes:
    return hashlib.blake2b(b"d" + total.to_bytes(16, "little") + size.to_bytes(8, "little"), digest_size=16).digest()


class Base:
    """A parsed DB (nested dicts/lists of JSON values), shared read-only by many stores."""

    def __init__(self, data: Any):
        self.data = data
        self._ids = self._collect(data)
        # Hashes (and, for dicts, entry sums) of base containers by id(); the base keeps them alive.
        self._hashes: dict[int, bytes] = {}
        self._sums: dict[int, int] = {}

    @staticmethod
    def _collect(node: Any) -> set[int]:
        ids: set[int] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, dict):
                ids.add(id(n))
                stack.extend(n.values())
            elif isinstance(n, list):
                ids.add(id(n))
                stack.extend(n)
        return ids

    def store(self) -> Store:
        return Store(self)


class Store:
    """One environment's view of a `Base`: shared until written."""

    __slots__ = ("base", "data", "_owned", "_origin")

    def __init__(self, base: Base):
        self.base = base
        self.data = base.data
        self._owned: set[int] = set()
        # id(private copy) -> (the copy, the base dict it was copied from); holding the copy keeps its id unique.
        self._origin: dict[int, tuple[dict, dict]] = {}

    def _own(self, node: Any) -> Any:
        if id(node) in self._owned:
            return node
        if isinstance(node, dict):
            copy: Any = dict(node)
            origin = node if id(node) in self.base._ids else self._origin.get(id(node), (None, None))[1]
            if origin is not None:
                self._origin[id(copy)] = (copy, origin)
        else:
            copy = list(node)
        self._owned.add(id(copy))
        return copy

    def edit(self, *path: str | int) -> Any:
        """Make every container from the root to `path` private to this store and return the last one.

        `store.edit("reservations", "ABC123")["status"] = "cancelled"` is the write idiom; `store.edit()`
        returns the (private) root.
        """
        self.data = self._own(self.data)
        node = self.data
        for key in path:
            child = node[key]
            if not isinstance(child, (dict, list)):
                raise TypeError(f"cannot edit {path!r}: {key!r} holds a {type(child).__name__}, not a container")
            if id(child) not in self._owned:
                child = self._own(child)
                node[key] = child
            node = child
        return node

    def fork(self) -> Store:
        """An independent copy of this store's current state, in O(containers written so far).

        Both stores then share the current tree read-only and copy on their next write, so a container that
        `edit` returned before the fork must not be mutated after it (call `edit` again).
        """
        other = Store(self.base)
        other.data = self.data
        other._origin = dict(self._origin)
        self._owned = set()
        return other

    def hash(self) -> str:
        return _Hasher(self).hash(self.data).hex()

    def to_builtins(self) -> Any:
        """A deep, independent copy as plain JSON values."""
        return msgspec.msgpack.decode(_enc.encode(self.data))


class _Hasher:
    """One hashing pass over a store: base containers come from the base's caches.

    The root and its tables (depth 0 and 1) hash structurally, dicts by entry sums; each record below them
    (depth >= 2) hashes as one sorted-key msgpack encoding, which is exact (msgpack keeps 1, 1.0, True and
    "1" apart) and runs in C, so the one-time hash of a large base costs one encode per record.
    """

    __slots__ = ("base", "origin")

    def __init__(self, store: Store):
        self.base = store.base
        self.origin = store._origin

    def hash(self, node: Any, depth: int = 0) -> bytes:
        if not isinstance(node, (dict, list)):
            return _leaf_hash(node)
        key = id(node)
        is_base = key in self.base._ids
        if is_base:
            cached = self.base._hashes.get(key)
            if cached is not None:
                return cached
        if depth >= RECORD_DEPTH:
            out = _record_hash(node)
        elif isinstance(node, dict):
            return self._dict(node, depth)[0]
        else:
            h = hashlib.blake2b(b"l", digest_size=16)
            for v in node:
                h.update(self.hash(v, depth + 1))
            out = h.digest()
        if is_base:
            self.base._hashes[key] = out
        return out

    def _dict(self, node: dict, depth: int) -> tuple[bytes, int]:
        """(digest, entry sum) of a dict above record depth."""
        key = id(node)
        base = self.base
        if key in base._ids:
            cached = base._hashes.get(key)
            if cached is not None:
                return cached, base._sums[key]
            total = self._sum(node.items(), depth)
            out = _dict_digest(total, len(node))
            base._hashes[key], base._sums[key] = out, total
            return out, total
        origin = self.origin.get(key)
        if origin is None:
            total = self._sum(node.items(), depth)
            return _dict_digest(total, len(node)), total
        source = origin[1]
        _, total = self._dict(source, depth)
        added = 0
        for k, v in node.items():  # entries that differ from the base table, by identity
            old = source.get(k, _MISSING)
            if old is not v:
                if old is _MISSING:
                    added += 1
                else:
                    total -= _entry(k, self.hash(old, depth + 1))
                total += _entry(k, self.hash(v, depth + 1))
        if len(node) - added != len(source):  # some base entries were removed
            for k, old in source.items():
                if k not in node:
                    total -= _entry(k, self.hash(old, depth + 1))
        total &= _MASK
        return _dict_digest(total, len(node)), total

    def _sum(self, items: Any, depth: int) -> int:
        total = 0
        for k, v in items:
            total += _entry(k, self.hash(v, depth + 1))
        return total & _MASK


RECORD_DEPTH = 2
_sorted_enc = msgspec.msgpack.Encoder(order="sorted")


def _record_hash(node: Any) -> bytes:
    try:
        payload = _sorted_enc.encode(node)
    except TypeError:  # keys of mixed types cannot be sorted: hash the structure instead
        return _structural_hash(node)
    return hashlib.blake2b(b"r" + payload, digest_size=16).digest()


def _structural_hash(node: Any) -> bytes:
    if isinstance(node, dict):
        total = sum(_entry(k, _structural_hash(v)) for k, v in node.items()) & _MASK
        return _dict_digest(total, len(node))
    if isinstance(node, list):
        h = hashlib.blake2b(b"l", digest_size=16)
        for v in node:
            h.update(_structural_hash(v))
        return h.digest()
    return _leaf_hash(node)
