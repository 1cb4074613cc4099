"""The toolkit's introspection tables are built once per class, and never shared with a subclass."""

from __future__ import annotations

from eigenfast.domains.toolkit import Toolkit, function, tool


class Base(Toolkit):
    @tool("read")
    def look(self) -> str:
        return "looked"

    @function
    def reset(self) -> str:
        return "reset"


class Extended(Base):
    @tool("write")
    def change(self, value: int) -> int:
        return value

    @function
    def check(self) -> bool:
        return True


def test_tables_are_cached_per_class():
    assert Base.functions() is Base.functions() and Base.specs() is Base.specs()
    assert set(Base.functions()) == {"reset"} and set(Base.specs()) == {"look"}
    # built for the parent first: the subclass still gets its own, complete tables
    assert set(Extended.functions()) == {"reset", "check"} and set(Extended.specs()) == {"look", "change"}
    assert Extended.functions() is Extended.functions() and Extended.specs() is Extended.specs()
    assert set(Base.functions()) == {"reset"} and Base.mutates("change") is False and Extended.mutates("change")
