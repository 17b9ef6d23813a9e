"""An immutable, hashable dict for the fields of frozen values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

__all__ = ["FrozenDict", "frozen_dict"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V]):
    """A read-only dict: hashable, ordered, with dict's own fast look-ups.

    Every method that would change it raises ``TypeError``; :meth:`set` and
    :meth:`without` return changed copies instead.

    >>> caps = FrozenDict({"alice": 1})
    >>> caps["alice"], caps == {"alice": 1}, caps.set("bob", 2)
    (1, True, FrozenDict({'alice': 1, 'bob': 2}))
    """

    __slots__ = ()

    def _readonly(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("FrozenDict cannot be changed; use .set() or .without() for a copy")

    __setitem__ = __delitem__ = __ior__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        return (type(self), (dict(self),))

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """Return a copy with ``key`` set to ``value``."""
        copy = dict(self)
        copy[key] = value
        return FrozenDict(copy)

    def without(self, key: K) -> FrozenDict[K, V]:
        """Return a copy without ``key`` (the same if absent)."""
        if key not in self:
            return self
        copy = dict(self)
        del copy[key]
        return FrozenDict(copy)


def frozen_dict(value: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> FrozenDict[Any, Any]:
    """``value`` as a FrozenDict (itself if it is one): the converter of frozen values' maps.

    Typed with ``Any``: attrs gives a field its converter's argument type, and each field
    declares its own key and value types.
    """
    return value if isinstance(value, FrozenDict) else FrozenDict(value)
