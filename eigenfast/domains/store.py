"""Copy-on-write JSON state with a cached structural hash.

tau²-bench rebuilds and re-serialises the whole DB several times per evaluated task; that dominates its run
time. Here a domain's DB is parsed once into a frozen *base* tree, and every environment gets a `Store` that
shares the base and copies only the containers on the path to what it writes. Hashes of shared subtrees are
memoised (the base never changes), so hashing a store costs O(what was written), not O(DB).

Rule for tool code: read freely through `store.data`, but mutate only what `store.edit(...)` returned, and add
or remove keys/items only on containers returned by `edit`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_enc = msgspec.msgpack.Encoder()

def _leaf_hash(value: Any) -> bytes:
    # bool/int/float/str/None: type-tagged so 1, 1.0, True and "1" differ.
    return hashlib.blake2b(type(value).__name__.encode() + b":" + _enc.encode(value), digest_size=16).digest()


class Base:
    """A parsed DB (nested dicts/lists of JSON values), shared read-only by many stores."""

    def __init__(self, data: Any):
        self.data = data
        self._ids = self._collect(data)
        # Hashes of base containers by id(); the base keeps them alive, so the ids stay valid.
        self._hashes: dict[int, bytes] = {}

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

    __slots__ = ("base", "data", "_owned")

    def __init__(self, base: Base):
        self.base = base
        self.data = base.data
        self._owned: set[int] = set()

    def _own(self, node: Any) -> Any:
        if id(node) in self._owned:
            return node
        copy = dict(node) if isinstance(node, dict) else list(node)
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
        """An independent copy of this store's current state (cheap: shares everything)."""
        other = Store(self.base)
        other.data = _freeze_owned(self.data, self._owned)
        return other

    def hash(self) -> str:
        return _tree_hash(self.data, self.base).hex()

    def to_builtins(self) -> Any:
        """A deep, independent copy as plain JSON values."""
        return msgspec.msgpack.decode(_enc.encode(self.data))


def _freeze_owned(node: Any, owned: set[int]) -> Any:
    """Deep-copy only the owned containers, so two stores never share anything writable."""
    if id(node) not in owned:
        return node
    if isinstance(node, dict):
        return {k: _freeze_owned(v, owned) for k, v in node.items()}
    return [_freeze_owned(v, owned) for v in node]


def _tree_hash(node: Any, base: Base) -> bytes:
    if isinstance(node, dict):
        key = id(node)
        if key in base._ids:
            cached = base._hashes.get(key)
            if cached is not None:
                return cached
        h = hashlib.blake2b(b"d", digest_size=16)
        for k in sorted(node, key=str):
            h.update(_leaf_hash(k))
            h.update(_tree_hash(node[k], base))
        out = h.digest()
    elif isinstance(node, list):
        key = id(node)
        if key in base._ids:
            cached = base._hashes.get(key)
            if cached is not None:
                return cached
        h = hashlib.blake2b(b"l", digest_size=16)
        for v in node:
            h.update(_tree_hash(v, base))
        out = h.digest()
    else:
        return _leaf_hash(node)
    if key in base._ids:
        base._hashes[key] = out
    return out
