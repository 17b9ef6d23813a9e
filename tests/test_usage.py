"""TokenUsage and Modifiers: validation, addition, and reading Anthropic's usage objects."""

from types import SimpleNamespace

import attrs
import pytest
from anthropic.types import CacheCreation, Message, ServerToolUsage, Usage
from hypothesis import given
from hypothesis import strategies as st

from usagebill import InvalidValueError, Modifiers, Product, TokenUsage, UsageBillError
from usagebill.testing import token_usages

FIELDS = [field.name for field in attrs.fields(TokenUsage)]


def api_dict(usage: TokenUsage) -> dict[str, object]:
    """The JSON ``usage`` object the Messages API would report for ``usage``."""
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_5m_tokens + usage.cache_write_1h_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_write_5m_tokens,
            "ephemeral_1h_input_tokens": usage.cache_write_1h_tokens,
        },
        "server_tool_use": {
            "web_search_requests": usage.web_search_requests,
            "web_fetch_requests": 0,
        },
    }


# --- TokenUsage values -------------------------------------------------------------------------


def test_every_count_defaults_to_zero():
    """TokenUsage() is all zeros, and falsy; any non-zero count makes it truthy."""
    empty = TokenUsage()
    assert attrs.astuple(empty) == (0, 0, 0, 0, 0, 0)
    assert not empty
    for field in FIELDS:
        assert TokenUsage(**{field: 1})


def test_usages_add_up_category_by_category():
    """(1000 in, 200 out) + (5000 read, 2 searches) keeps each category apart."""
    total = TokenUsage(input_tokens=1_000, output_tokens=200) + TokenUsage(
        cache_read_tokens=5_000, web_search_requests=2, output_tokens=50
    )
    assert total == TokenUsage(
        input_tokens=1_000, output_tokens=250, cache_read_tokens=5_000, web_search_requests=2
    )
    assert sum([TokenUsage(input_tokens=1)] * 3, TokenUsage()) == TokenUsage(input_tokens=3)


@pytest.mark.parametrize("other", [1, 0, None, {"input_tokens": 1}])
def test_adding_something_else_is_a_type_error(other):
    """TokenUsage + 1 is Python's TypeError (the operation is not defined)."""
    with pytest.raises(TypeError):
        TokenUsage(input_tokens=1) + other


def test_prompt_tokens_counts_uncached_input_and_every_cache_token_once():
    """prompt = 10,000 uncached + 5,000 + 1,000 writes + 50,000 reads = 66,000 (not output)."""
    usage = TokenUsage(
        input_tokens=10_000,
        output_tokens=2_000,
        cache_write_5m_tokens=5_000,
        cache_write_1h_tokens=1_000,
        cache_read_tokens=50_000,
        web_search_requests=7,
    )
    assert usage.prompt_tokens == 66_000


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [-1, True, False, 1.0, 2.5, "5", None, [1]])
def test_bad_counts_are_invalid_values_naming_the_field(field, value):
    """A negative, bool, float, str or missing count is an InvalidValueError naming its field."""
    with pytest.raises(InvalidValueError) as caught:
        TokenUsage(**{field: value})
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert error.value is value
    assert str(error) == f"{field} must be a non-negative int (got {value!r})"


def test_token_usage_is_frozen():
    """A usage cannot be changed in place."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        TokenUsage().input_tokens = 1  # type: ignore[misc]


def test_products():
    """Products are the four the seat types talk about, as plain strings."""
    assert [p.value for p in Product] == ["chat", "file_creation", "code_execution", "claude_code"]
    assert Product("claude_code") is Product.CLAUDE_CODE
    assert Product.CHAT == "chat"


# --- from_anthropic: plain dicts ---------------------------------------------------------------


def test_reads_every_field_of_the_api_usage():
    """Each API field lands in its own category; cache writes split by the breakdown."""
    usage = TokenUsage.from_anthropic(
        {
            "input_tokens": 12,
            "output_tokens": 300,
            "cache_creation_input_tokens": 2_000,
            "cache_read_input_tokens": 40_000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 500,
                "ephemeral_1h_input_tokens": 1_500,
            },
            "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 9},
            "service_tier": "standard",
            "inference_geo": None,
            "speed": None,
            "output_tokens_details": None,
        }
    )
    assert usage == TokenUsage(
        input_tokens=12,
        output_tokens=300,
        cache_write_5m_tokens=500,
        cache_write_1h_tokens=1_500,
        cache_read_tokens=40_000,
        web_search_requests=3,
    )


def test_input_tokens_are_not_reduced_by_cached_tokens():
    """Anthropic's input_tokens already excludes cache reads and writes: taken as is."""
    usage = TokenUsage.from_anthropic(
        {
            "input_tokens": 100,
            "output_tokens": 10,
            "cache_creation_input_tokens": 1_000,
            "cache_read_input_tokens": 10_000,
        }
    )
    assert usage.input_tokens == 100  # not 100 - 11,000, not 11,100
    assert usage.prompt_tokens == 11_100  # each token counted once


def test_only_input_and_output_are_needed():
    """Every other field may be missing: zero cache tokens, zero searches."""
    assert TokenUsage.from_anthropic({"input_tokens": 5, "output_tokens": 7}) == TokenUsage(
        input_tokens=5, output_tokens=7
    )


def test_none_values_count_as_zero():
    """The API sends null for fields that do not apply; null is zero."""
    usage = TokenUsage.from_anthropic(
        {
            "input_tokens": 5,
            "output_tokens": 7,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
            "cache_creation": None,
            "server_tool_use": None,
        }
    )
    assert usage == TokenUsage(input_tokens=5, output_tokens=7)


def test_without_a_breakdown_every_cache_write_is_a_five_minute_one():
    """No cache_creation object: the API's default 5-minute lifetime."""
    usage = TokenUsage.from_anthropic(
        {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 2_048}
    )
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (2_048, 0)


def test_a_breakdown_without_the_total_is_taken_as_is():
    """cache_creation alone (total missing or null) gives its two parts."""
    for total in ({}, {"cache_creation_input_tokens": None}):
        usage = TokenUsage.from_anthropic(
            {
                "input_tokens": 1,
                "output_tokens": 1,
                **total,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 10,
                    "ephemeral_1h_input_tokens": 20,
                },
            }
        )
        assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (10, 20)


def test_a_breakdown_with_missing_or_null_parts_counts_them_as_zero():
    """A part of the breakdown that is absent or null is zero (and the sum must still agree)."""
    usage = TokenUsage.from_anthropic(
        {
            "input_tokens": 1,
            "output_tokens": 1,
            "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_1h_input_tokens": 30, "ephemeral_5m_input_tokens": None},
        }
    )
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (0, 30)


def test_a_breakdown_that_does_not_add_up_is_an_error():
    """500 + 1,000 written per the breakdown but 2,000 in total: which is right? Refused."""
    with pytest.raises(
        InvalidValueError, match=r"must add up to cache_creation_input_tokens \(2000\)"
    ) as caught:
        TokenUsage.from_anthropic(
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation_input_tokens": 2_000,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 500,
                    "ephemeral_1h_input_tokens": 1_000,
                },
            }
        )
    assert caught.value.field == "cache_creation"
    assert isinstance(caught.value, ValueError)


def test_server_tool_use_without_web_searches_is_zero_searches():
    """server_tool_use with only web fetches (or null searches) means no web searches."""
    for tools in ({"web_fetch_requests": 2}, {"web_search_requests": None}):
        usage = TokenUsage.from_anthropic(
            {"input_tokens": 1, "output_tokens": 1, "server_tool_use": tools}
        )
        assert usage.web_search_requests == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 1.5}, "output_tokens"),
        ({"cache_read_input_tokens": "40"}, "cache_read_input_tokens"),
        ({"cache_creation_input_tokens": True}, "cache_creation_input_tokens"),
        (
            {"cache_creation": {"ephemeral_5m_input_tokens": -5}},
            "cache_creation.ephemeral_5m_input_tokens",
        ),
        (
            {"cache_creation": {"ephemeral_1h_input_tokens": 2.0}},
            "cache_creation.ephemeral_1h_input_tokens",
        ),
        ({"server_tool_use": {"web_search_requests": -3}}, "server_tool_use.web_search_requests"),
    ],
)
def test_bad_api_values_are_invalid_values_naming_the_api_field(patch, field):
    """A negative, fractional, text or bool count names the API field it came from."""
    data = {"input_tokens": 1, "output_tokens": 1, **patch}
    with pytest.raises(InvalidValueError) as caught:
        TokenUsage.from_anthropic(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field} must be a non-negative int")


@pytest.mark.parametrize("missing", ["input_tokens", "output_tokens"])
def test_input_and_output_tokens_are_required(missing):
    """A usage without input_tokens or output_tokens is refused, not rated as zero."""
    data = {"input_tokens": 1, "output_tokens": 1}
    del data[missing]
    with pytest.raises(InvalidValueError, match="is required") as caught:
        TokenUsage.from_anthropic(data)
    assert caught.value.field == missing
    with pytest.raises(InvalidValueError, match="is required"):
        TokenUsage.from_anthropic({**data, missing: None})


@pytest.mark.parametrize("junk", [None, 5, "usage", [], {}])
def test_something_that_is_not_a_usage_is_refused(junk):
    """A non-usage (None, a number, an empty dict) cannot pass for zero tokens."""
    with pytest.raises(InvalidValueError, match="is required"):
        TokenUsage.from_anthropic(junk)


def test_reads_any_object_with_the_usage_attributes():
    """Besides dicts, any object with the attributes works (duck typing)."""
    usage = SimpleNamespace(input_tokens=3, output_tokens=4, cache_read_input_tokens=5)
    assert TokenUsage.from_anthropic(usage) == TokenUsage(
        input_tokens=3, output_tokens=4, cache_read_tokens=5
    )


# --- from_anthropic: the SDK's own types -------------------------------------------------------


def test_reads_the_sdk_usage_type():
    """anthropic.types.Usage with CacheCreation and ServerToolUsage reads like its JSON."""
    sdk = Usage(
        input_tokens=12,
        output_tokens=300,
        cache_creation_input_tokens=2_000,
        cache_read_input_tokens=40_000,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=500, ephemeral_1h_input_tokens=1_500
        ),
        server_tool_use=ServerToolUsage(web_search_requests=3, web_fetch_requests=1),
        service_tier="standard",
    )
    assert TokenUsage.from_anthropic(sdk) == TokenUsage(
        input_tokens=12,
        output_tokens=300,
        cache_write_5m_tokens=500,
        cache_write_1h_tokens=1_500,
        cache_read_tokens=40_000,
        web_search_requests=3,
    )


def test_reads_a_minimal_sdk_usage():
    """Usage(input_tokens, output_tokens) leaves every optional field None: zeros."""
    assert TokenUsage.from_anthropic(Usage(input_tokens=9, output_tokens=1)) == TokenUsage(
        input_tokens=9, output_tokens=1
    )


def test_reads_an_sdk_usage_validated_from_json():
    """Usage.model_validate(JSON body) gives the same as the plain dict does."""
    body = {
        "input_tokens": 10_000,
        "output_tokens": 2_000,
        "cache_creation_input_tokens": 6_000,
        "cache_read_input_tokens": 50_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 5_000, "ephemeral_1h_input_tokens": 1_000},
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0},
        "service_tier": "batch",
        "inference_geo": "us",
    }
    sdk = Usage.model_validate(body)
    assert TokenUsage.from_anthropic(sdk) == TokenUsage.from_anthropic(body)
    assert TokenUsage.from_anthropic(sdk).prompt_tokens == 66_000  # 10,000 + 6,000 + 50,000


def test_an_sdk_breakdown_that_does_not_add_up_is_an_error():
    """The same sum check applies to the SDK types."""
    sdk = Usage(
        input_tokens=1,
        output_tokens=1,
        cache_creation_input_tokens=10,
        cache_creation=CacheCreation(ephemeral_5m_input_tokens=1, ephemeral_1h_input_tokens=1),
    )
    with pytest.raises(InvalidValueError, match="must add up"):
        TokenUsage.from_anthropic(sdk)


def test_passing_the_whole_message_instead_of_its_usage_is_an_error():
    """message instead of message.usage would rate as zero; it is refused instead."""
    sdk_usage = Usage(input_tokens=1_000, output_tokens=50)
    message = Message.model_construct(
        id="msg_1",
        content=[],
        model="claude-sonnet-4-6",
        role="assistant",
        type="message",
        stop_reason="end_turn",
        stop_sequence=None,
        usage=sdk_usage,
    )
    with pytest.raises(InvalidValueError, match=r"message\.usage"):
        TokenUsage.from_anthropic(message)
    assert TokenUsage.from_anthropic(message.usage).input_tokens == 1_000


@given(token_usages())
def test_the_api_form_of_any_usage_reads_back_unchanged(usage):
    """Writing a usage the way the API reports it and reading it back gives the same usage."""
    assert TokenUsage.from_anthropic(api_dict(usage)) == usage
    assert TokenUsage.from_anthropic(Usage.model_validate(api_dict(usage))) == usage


# --- properties of addition --------------------------------------------------------------------


@given(token_usages(), token_usages())
def test_addition_commutes_and_prompt_tokens_add(a, b):
    """a + b == b + a, and the prompts add up."""
    assert a + b == b + a
    assert (a + b).prompt_tokens == a.prompt_tokens + b.prompt_tokens


@given(token_usages(), token_usages(), token_usages())
def test_addition_associates_with_zero_as_identity(a, b, c):
    """(a + b) + c == a + (b + c) and a + TokenUsage() == a."""
    assert (a + b) + c == a + (b + c)
    assert a + TokenUsage() == a


# --- Modifiers -------------------------------------------------------------------------------


def test_modifiers_default_to_none():
    """Modifiers() is a standard request."""
    assert Modifiers() == Modifiers(batch=False, us_only=False, fast=False)


@pytest.mark.parametrize("field", ["batch", "us_only", "fast"])
@pytest.mark.parametrize("value", [1, 0, "yes", None, "true"])
def test_modifier_flags_must_be_bools(field, value):
    """batch=1 or fast='yes' is an InvalidValueError naming the flag."""
    with pytest.raises(InvalidValueError, match="must be True or False") as caught:
        Modifiers(**{field: value})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, UsageBillError)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Modifiers()),
        ({"service_tier": "batch"}, Modifiers(batch=True)),
        ({"service_tier": "standard"}, Modifiers()),
        ({"service_tier": "priority"}, Modifiers()),
        ({"speed": "fast"}, Modifiers(fast=True)),
        ({"speed": "standard"}, Modifiers()),
        ({"inference_geo": "us"}, Modifiers(us_only=True)),
        ({"inference_geo": "global"}, Modifiers()),
        ({"service_tier": None, "speed": None, "inference_geo": None}, Modifiers()),
        (
            {"service_tier": "batch", "inference_geo": "us"},
            Modifiers(batch=True, us_only=True),
        ),
        ({"speed": "fast", "inference_geo": "us"}, Modifiers(us_only=True, fast=True)),
    ],
)
def test_modifiers_from_a_dict(fields, expected):
    """service_tier 'batch', speed 'fast' and inference_geo 'us' switch their modifier on."""
    data = {"input_tokens": 1, "output_tokens": 1, **fields}
    assert Modifiers.from_anthropic(data) == expected


def test_modifiers_from_the_sdk_usage():
    """The SDK's Usage carries the same three fields."""
    assert Modifiers.from_anthropic(
        Usage(input_tokens=1, output_tokens=1, service_tier="batch", inference_geo="us")
    ) == Modifiers(batch=True, us_only=True)
    assert Modifiers.from_anthropic(
        Usage(input_tokens=1, output_tokens=1, speed="fast")
    ) == Modifiers(fast=True)
    assert Modifiers.from_anthropic(Usage(input_tokens=1, output_tokens=1)) == Modifiers()


@given(st.booleans(), st.booleans(), st.booleans())
def test_modifiers_read_back_from_their_api_fields(batch, us_only, fast):
    """Any combination written as API fields reads back as itself."""
    data = {
        "service_tier": "batch" if batch else "standard",
        "inference_geo": "us" if us_only else "global",
        "speed": "fast" if fast else "standard",
    }
    assert Modifiers.from_anthropic(data) == Modifiers(batch=batch, us_only=us_only, fast=fast)
