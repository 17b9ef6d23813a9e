"""Every exception usagebill raises, rooted in one base class.

Expected outcomes (a denied charge, an exceeded threshold) are values, never
exceptions; these are for bad input and misuse. Each class also derives from
the builtin that fits, so ``except ValueError`` keeps working::

    UsageBillError
    ├── InvalidValueError (ValueError)      a field breaks a rule
    │   ├── CurrencyMismatchError           two currencies meet
    │   ├── UnsupportedModifierError        e.g. US-only inference on an older model
    │   └── ConflictError                   same id, different content
    ├── MoneyTypeError (TypeError)          a float or a bare number where Money belongs
    ├── UnknownNameError (LookupError)      an id that is not known
    │   └── UnknownModelError               … with the closest known model ids
    ├── LoadError (ValueError)              a file or dict that does not load, every problem listed
    ├── PermissionDeniedError (PermissionError)
    └── RequestDeniedError (PermissionError) a guarded model call the caps refuse, with its
                                            Decision (defined in usagebill.gateway.guard)

Messages follow one pattern: what is wrong, with the field, the value and the
rule, e.g. ``input_tokens must be a non-negative int (got -1)``. The value is
shown by :func:`short_repr`: cut short, and never an error of its own.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from datetime import date, datetime
from itertools import islice
from typing import Final

__all__ = [
    "ConflictError",
    "CurrencyMismatchError",
    "InvalidValueError",
    "LoadError",
    "MoneyTypeError",
    "PermissionDeniedError",
    "UnknownModelError",
    "UnknownNameError",
    "UnsupportedModifierError",
    "UsageBillError",
    "short_repr",
]

#: How many characters of a value a message shows.
_SHOWN_LENGTH: Final = 60
# Ints of at most 190 bits have at most 58 digits: shown in full. Longer ones are described by
# their digit count, which bit_length gives without writing the number out (Python refuses to
# write an int of more than 4,300 digits, and a long one takes a while).
_SHORT_INT_BITS: Final = 190
_EXACT_COUNT_BITS: Final = 1 << 20  # past ~315,000 digits, the 10**n that checks the count is slow
_LOG10_2: Final = 0.30102999566398120


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr, dicts in insertion order (as repr), long ints described."""

    def __init__(self) -> None:
        super().__init__()
        self.fillvalue = "…"
        self.maxlevel = 4
        self.maxtuple = self.maxlist = self.maxset = self.maxfrozenset = self.maxdeque = 20
        self.maxdict = 10
        self.maxstring = self.maxother = _SHOWN_LENGTH

    def repr_str(self, x: str, level: int) -> str:  # noqa: ARG002  (reprlib's signature)
        # One character more than is shown, so that a cut string is always marked as cut.
        return repr(x[: _SHOWN_LENGTH + 1])

    def repr_bytes(self, x: bytes, level: int) -> str:  # noqa: ARG002
        return repr(x[: _SHOWN_LENGTH + 1])

    def repr_int(self, x: int, level: int) -> str:  # noqa: ARG002
        bits = x.bit_length()
        if bits <= _SHORT_INT_BITS:
            return repr(x)
        digits = int(bits * _LOG10_2) + 1  # exact, or one too many
        sign = "negative " if x < 0 else ""
        if bits > _EXACT_COUNT_BITS:
            return f"<{sign}int of about {digits:,} digits>"
        if abs(x) < 10 ** (digits - 1):
            digits -= 1
        return f"<{sign}int of {digits:,} digits>"

    def repr_datetime(self, x: datetime, level: int) -> str:  # noqa: ARG002
        # An instant as ISO 8601 (what files hold and people read), not datetime.datetime(…).
        return x.isoformat()

    def repr_date(self, x: date, level: int) -> str:  # noqa: ARG002
        return x.isoformat()

    def repr_dict(self, x: dict[object, object], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{…}"
        items = [
            f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}"
            for key, value in islice(x.items(), self.maxdict)
        ]
        return "{" + ", ".join(items) + (", …" if len(x) > self.maxdict else "") + "}"

    def repr_instance(self, x: object, level: int) -> str:  # noqa: ARG002
        try:
            return repr(x)
        except Exception:  # noqa: BLE001  (a value whose repr fails is still shown, by type)
            return f"<{type(x).__name__} object>"


_SHORT_REPR: Final = _ShortRepr()


def short_repr(value: object) -> str:
    """``repr(value)`` cut to about 60 characters ("…" marks a cut); it never raises.

    Every message that shows an outside value shows it this way: the value may be
    huge (a 10 MB string), deep, or impossible to write (Python refuses ints of
    more than 4,300 digits), and building a message must not fail.

    >>> short_repr("x" * 10_000_000) == "'" + "x" * 59 + "…"
    True
    >>> short_repr(-(10**5000))
    '<negative int of 5,001 digits>'
    >>> short_repr([1, "two", {"three": 3}])
    "[1, 'two', {'three': 3}]"
    >>> from datetime import datetime, UTC
    >>> short_repr(datetime(2026, 11, 1, 4, tzinfo=UTC))  # instants as ISO 8601
    '2026-11-01T04:00:00+00:00'
    """
    try:
        text = _SHORT_REPR.repr(value)
    except Exception:  # noqa: BLE001  (e.g. a __len__ that fails: still say what it was)
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= _SHOWN_LENGTH else text[:_SHOWN_LENGTH] + "…"


class UsageBillError(Exception):
    """The base of every exception usagebill raises on purpose.

    ``event_id`` names the usage event a problem was found in when a computation
    over many events (a what-if replay, a forecast) raised it; the command line
    turns it back into the event's ``file:line``.
    """

    event_id: str | None = None

    def in_event(self, event_id: str) -> None:
        """Say which usage event the problem was found in (``event_id`` and a note)."""
        self.event_id = event_id
        self.add_note(f"in usage event {short_repr(event_id)}")


class InvalidValueError(UsageBillError, ValueError):
    """A value breaks a rule; ``field``, ``value`` and ``rule`` say which."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field} {self.detail}")

    @property
    def detail(self) -> str:
        """The message without the field: the rule and the value, e.g. ``must be … (got -1)``."""
        return f"{self.rule} (got {short_repr(self.value)})"


class CurrencyMismatchError(InvalidValueError):
    """Two amounts in different currencies met: they never mix silently."""

    def __init__(self, expected: str, got: str, field: str = "currency") -> None:
        self.expected = expected
        self.got = got
        super().__init__(field, got, f"must be {expected}: currencies never mix")


class UnsupportedModifierError(InvalidValueError):
    """A request modifier the model does not offer (e.g. fast mode on Sonnet)."""


class ConflictError(InvalidValueError):
    """The same id arrived twice with different content; nothing was applied."""


class MoneyTypeError(UsageBillError, TypeError):
    """A value of the wrong type where money belongs (a float, or a bare number)."""


class UnknownNameError(UsageBillError, LookupError):
    """An id that is not known: a seat type, a member, a model."""

    def __init__(self, kind: str, name: object, known: Sequence[str] = (), hint: str = "") -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(known)
        message = f"unknown {kind} {short_repr(name)}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)

    def __str__(self) -> str:
        # LookupError would repr() the message; show it as written.
        return str(self.args[0])


class UnknownModelError(UnknownNameError):
    """A model id the price table does not list; ``suggestions`` holds the closest ones."""

    def __init__(self, name: object, suggestions: Sequence[str]) -> None:
        self.suggestions = tuple(suggestions)
        hint = (
            "did you mean " + ", ".join(short_repr(s) for s in self.suggestions) + "?"
            if self.suggestions
            else "see PriceTable.model_ids()"
        )
        super().__init__("model", name, hint=hint)


class LoadError(UsageBillError, ValueError):
    """Data that does not load. ``problems`` lists every one as (path, message)."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {path}: {message}" for path, message in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source} does not load ({count} {noun}):\n{lines}")


class PermissionDeniedError(UsageBillError, PermissionError):
    """The actor's role may not make this change; nothing was changed."""

    def __init__(self, actor: str, role: str, action: str) -> None:
        self.actor = actor
        self.role = role
        self.action = action
        super().__init__(
            f"{short_repr(actor)} (role {role}) may not {action}: "
            "only an owner or the primary owner may"
        )
