"""FrozenDict: a read-only, hashable dict for the fields of frozen values."""

import copy
import pickle

import pytest

from usagebill._frozendict import FrozenDict


def test_reads_like_a_dict_and_equals_one():
    """Look-ups, iteration order and equality are dict's."""
    caps = FrozenDict({"b": 2, "a": 1})
    assert caps["a"] == 1
    assert list(caps) == ["b", "a"]
    assert caps == {"a": 1, "b": 2}
    assert repr(caps) == "FrozenDict({'b': 2, 'a': 1})"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("a", 2),
        lambda d: d.__delitem__("a"),
        lambda d: d.clear(),
        lambda d: d.pop("a"),
        lambda d: d.popitem(),
        lambda d: d.setdefault("c", 3),
        lambda d: d.update(c=3),
        lambda d: d.__ior__({"c": 3}),
    ],
)
def test_every_change_in_place_is_refused(change):
    """Setting, deleting, clearing, popping, updating: TypeError, and nothing changes."""
    caps = FrozenDict({"a": 1})
    with pytest.raises(TypeError, match="cannot be changed"):
        change(caps)
    assert caps == {"a": 1}


def test_set_and_without_return_copies():
    """set() and without() leave the original alone; without() of a missing key is a no-op."""
    caps = FrozenDict({"a": 1})
    assert caps.set("b", 2) == {"a": 1, "b": 2}
    assert caps.without("a") == {}
    assert caps.without("zzz") is caps
    assert caps == {"a": 1}
    assert isinstance(caps.set("b", 2), FrozenDict)
    assert isinstance(caps.without("a"), FrozenDict)


def test_hashable_by_content():
    """Equal FrozenDicts hash alike, whatever their order."""
    assert hash(FrozenDict({"a": 1, "b": 2})) == hash(FrozenDict({"b": 2, "a": 1}))
    assert len({FrozenDict({"a": 1}), FrozenDict({"a": 1})}) == 1


def test_pickles_and_copies():
    """pickle and copy rebuild an equal FrozenDict."""
    caps = FrozenDict({"a": 1})
    for clone in (pickle.loads(pickle.dumps(caps)), copy.copy(caps), copy.deepcopy(caps)):  # noqa: S301
        assert type(clone) is FrozenDict
        assert clone == caps
