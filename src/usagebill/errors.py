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
rule, e.g. ``input_tokens must be a non-negative int (got -1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

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
]


class UsageBillError(Exception):
    """The base of every exception usagebill raises on purpose."""


class InvalidValueError(UsageBillError, ValueError):
    """A value breaks a rule; ``field``, ``value`` and ``rule`` say which."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field} {rule} (got {value!r})")


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

    def __init__(self, kind: str, name: str, known: Sequence[str] = (), hint: str = "") -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(known)
        message = f"unknown {kind} {name!r}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)

    def __str__(self) -> str:
        # LookupError would repr() the message; show it as written.
        return str(self.args[0])


class UnknownModelError(UnknownNameError):
    """A model id the price table does not list; ``suggestions`` holds the closest ones."""

    def __init__(self, name: str, suggestions: Sequence[str]) -> None:
        self.suggestions = tuple(suggestions)
        hint = (
            "did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
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
            f"{actor!r} (role {role}) may not {action}: only an owner or the primary owner may"
        )
