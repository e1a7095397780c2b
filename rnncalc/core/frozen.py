"""``Frozen``: the base of the immutable value classes on the start-up path.

It stands in for ``@dataclass(frozen=True)`` where a class is created on every start of
``rnncalc summary``: a frozen dataclass generates and compiles six methods when its module is
imported (about 0.35 ms a class here, 2.6 ms for the spec and report classes together, and
``import dataclasses`` another 0.6 ms), while this base defines its methods once. A subclass
lists its attributes in ``__slots__`` (those that make its value, ``_fields``, first), and its
typed ``__init__`` sets them all with :meth:`Frozen._assign`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

FrozenT = TypeVar("FrozenT", bound="Frozen")


class Frozen:
    """Equality, hashing and ``repr`` over ``_fields``; no assignment after ``__init__``.

    Attributes in ``__slots__`` but not in ``_fields`` are derived in ``__init__`` (a total,
    say) and, as with ``field(compare=False)``, take no part in equality.
    """

    __slots__ = ()
    #: The attributes that make the value, in constructor order.
    _fields: ClassVar[tuple[str, ...]] = ()

    def _assign(self, *values: Any) -> None:
        """Set every slot, in ``__slots__`` order, to ``values``; for ``__init__`` only."""
        slots: tuple[str, ...] = self.__slots__
        for name, value in zip(slots, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__name__}({fields})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self.__class__.__name__} is immutable; cannot assign {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__class__.__name__} is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and ``copy`` by the stored attributes (assignment is refused)."""
        slots: tuple[str, ...] = self.__slots__
        state = {name: getattr(self, name) for name in slots}
        return (_restore, (self.__class__, state))

    def replace(self: FrozenT, **changes: Any) -> FrozenT:
        """A copy with ``changes`` applied, built (and so validated) by ``__init__``."""
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return self.__class__(**values)


def _restore(cls: type[FrozenT], state: dict[str, Any]) -> FrozenT:
    instance = object.__new__(cls)
    for name, value in state.items():
        object.__setattr__(instance, name, value)
    return instance
