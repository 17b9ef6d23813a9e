"""Seat types, add-ons, the catalog, members and seat changes."""

from datetime import UTC, datetime

import pytest

from usagebill import (
    CHAT,
    CHAT_AND_CLAUDE_CODE,
    HIPAA,
    AddOn,
    CurrencyMismatchError,
    InvalidValueError,
    Member,
    Money,
    Organization,
    Product,
    Role,
    SeatCatalog,
    SeatChange,
    SeatType,
    UnknownNameError,
)

START = datetime(2026, 10, 1, tzinfo=UTC)

# Example fees: Anthropic publishes none, the contract sets them.
CATALOGUE = SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"))


def test_enterprise_catalog_offers_the_two_seat_types_of_the_source() -> None:
    """SeatCatalog.enterprise builds Chat and Chat + Claude Code at the given fees."""
    assert sorted(CATALOGUE.seat_types) == [CHAT, CHAT_AND_CLAUDE_CODE]
    assert CATALOGUE.get(CHAT).monthly_fee == Money("20")
    assert CATALOGUE.get(CHAT_AND_CLAUDE_CODE).monthly_fee == Money("40")
    assert CATALOGUE.get(CHAT).display_name == "Chat"
    assert CATALOGUE.get(CHAT_AND_CLAUDE_CODE).display_name == "Chat + Claude Code"
    assert CATALOGUE.currency == "USD"


def test_hipaa_add_on_costs_five_dollars_on_chat_only() -> None:
    """The HIPAA option is $5 per user per month, offered by the Chat seat only."""
    hipaa = CATALOGUE.get(CHAT).add_ons[HIPAA]
    assert hipaa == AddOn(HIPAA, Money("5"), "HIPAA-compliant")
    assert CATALOGUE.get(CHAT_AND_CLAUDE_CODE).add_ons == {}
    CATALOGUE.check_add_ons(CHAT, [HIPAA])  # offered: no error


def test_hipaa_fee_follows_the_catalog_currency_or_the_contract() -> None:
    """Without a HIPAA fee it is 5 in the fees' currency; a given fee is used as is."""
    euros = SeatCatalog.enterprise(
        chat_fee=Money("18", "EUR"), chat_and_claude_code_fee=Money("36", "EUR")
    )
    assert euros.get(CHAT).add_ons[HIPAA].monthly_fee == Money("5", "EUR")
    assert euros.currency == "EUR"
    custom = SeatCatalog.enterprise(
        chat_fee=Money("20"), chat_and_claude_code_fee=Money("40"), hipaa_fee=Money("7.50")
    )
    assert custom.get(CHAT).add_ons[HIPAA].monthly_fee == Money("7.50")


def test_unknown_seat_type_is_an_unknown_name_error_and_a_lookup_error() -> None:
    """Looking up a seat type the catalog lacks raises UnknownNameError (a LookupError)."""
    with pytest.raises(UnknownNameError, match="unknown seat type 'team'") as caught:
        CATALOGUE.get("team")
    assert isinstance(caught.value, LookupError)
    assert caught.value.known == (CHAT, CHAT_AND_CLAUDE_CODE)
    with pytest.raises(LookupError):
        CATALOGUE.check_add_ons("team", [])


def test_add_on_not_offered_by_the_seat_type_is_invalid() -> None:
    """HIPAA on a Chat + Claude Code seat is an InvalidValueError naming what is offered."""
    with pytest.raises(InvalidValueError, match="not offered by seat type 'chat_claude_code'"):
        CATALOGUE.check_add_ons(CHAT_AND_CLAUDE_CODE, [HIPAA])
    with pytest.raises(InvalidValueError, match="offered: \\['hipaa'\\]"):
        CATALOGUE.check_add_ons(CHAT, ["sso"])


def test_chat_seat_includes_chat_file_creation_and_code_execution() -> None:
    """A Chat seat includes chat, file creation and code execution, not Claude Code."""
    chat = CATALOGUE.get(CHAT)
    assert chat.includes == {Product.CHAT, Product.FILE_CREATION, Product.CODE_EXECUTION}
    assert chat.includes_product(Product.CODE_EXECUTION)
    assert not chat.includes_product(Product.CLAUDE_CODE)


def test_chat_and_claude_code_seat_adds_claude_code() -> None:
    """Chat + Claude Code includes everything in Chat plus Claude Code."""
    chat = CATALOGUE.get(CHAT).includes
    both = CATALOGUE.get(CHAT_AND_CLAUDE_CODE).includes
    assert both == chat | {Product.CLAUDE_CODE}
    assert CATALOGUE.get(CHAT_AND_CLAUDE_CODE).includes_product(Product.CLAUDE_CODE)


def test_seat_type_takes_product_names_as_strings() -> None:
    """Products may be named by their string values; an unknown product is invalid."""
    seat = SeatType("api", Money("0"), ["chat", "claude_code"])
    assert seat.includes == {Product.CHAT, Product.CLAUDE_CODE}
    with pytest.raises(InvalidValueError, match="must name products"):
        SeatType("api", Money("0"), ["chat", "voice"])
    with pytest.raises(InvalidValueError, match="collection of products"):
        SeatType("api", Money("0"), "chat")


@pytest.mark.parametrize(
    ("name", "fee"),
    [("", Money("1")), (3, Money("1")), ("team", Money("-1")), ("team", "20")],
)
def test_seat_type_needs_a_name_and_a_non_negative_money_fee(name: object, fee: object) -> None:
    """An empty or non-string name, a negative fee or a bare number are InvalidValueErrors."""
    with pytest.raises(InvalidValueError):
        SeatType(name, fee, [Product.CHAT])  # type: ignore[arg-type]


def test_add_on_is_validated_like_a_seat_type() -> None:
    """An add-on needs a non-empty name and a non-negative fee."""
    with pytest.raises(InvalidValueError, match="name must be a non-empty string"):
        AddOn("", Money("5"))
    with pytest.raises(InvalidValueError, match="monthly_fee must be a non-negative Money"):
        AddOn("sso", Money("-5"))


def test_add_on_key_must_be_its_name_and_share_the_seat_currency() -> None:
    """A seat's add-ons are keyed by their names and priced in the seat's currency."""
    with pytest.raises(InvalidValueError, match="must be 'sso'"):
        SeatType("team", Money("10"), [], {"sso": AddOn("saml", Money("1"))})
    with pytest.raises(CurrencyMismatchError):
        SeatType("team", Money("10"), [], {"sso": AddOn("sso", Money("1", "EUR"))})


def test_catalog_is_non_empty_in_one_currency_keyed_by_name() -> None:
    """An empty catalog, two currencies, or a key that is not the seat's name are refused."""
    team = SeatType("team", Money("10"), [Product.CHAT])
    with pytest.raises(InvalidValueError, match="must not be empty"):
        SeatCatalog({})
    with pytest.raises(CurrencyMismatchError):
        SeatCatalog({"team": team, "euro": SeatType("euro", Money("9", "EUR"), [])})
    with pytest.raises(InvalidValueError, match="must be 'other'"):
        SeatCatalog({"other": team})
    with pytest.raises(CurrencyMismatchError):
        SeatCatalog.enterprise(chat_fee=Money("20"), chat_and_claude_code_fee=Money("40", "EUR"))


def test_member_has_a_role_and_a_seat() -> None:
    """A Member converts its role from a string and keeps add-ons as a frozenset."""
    member = Member("ada", "member", CHAT, [HIPAA])
    assert member.role is Role.MEMBER
    assert member.add_ons == frozenset({HIPAA})
    assert Member("olga", Role.PRIMARY_OWNER, CHAT).add_ons == frozenset()


@pytest.mark.parametrize(
    ("user_id", "role", "seat_type", "add_ons"),
    [
        ("", "member", CHAT, ()),
        ("ada", "boss", CHAT, ()),
        ("ada", "member", "", ()),
        ("ada", "member", CHAT, HIPAA),
    ],
)
def test_member_validation(user_id: str, role: str, seat_type: str, add_ons: object) -> None:
    """Empty ids or seats, an unknown role and add-ons given as one string are refused."""
    with pytest.raises(InvalidValueError):
        Member(user_id, role, seat_type, add_ons)  # type: ignore[arg-type]


def test_only_owners_may_manage() -> None:
    """The primary owner and owners may manage caps and seats; admins and members may not."""
    assert [role.may_manage for role in Role] == [True, True, False, False]


@pytest.mark.parametrize(
    "roles",
    [["owner", "member"], ["primary_owner", "primary_owner"], ["admin"]],
)
def test_an_organization_has_exactly_one_primary_owner(roles: list[str]) -> None:
    """Zero or two primary owners is an InvalidValueError."""
    people = [Member(f"u{index}", role, CHAT) for index, role in enumerate(roles)]
    with pytest.raises(InvalidValueError, match="exactly one primary owner"):
        Organization.create("acme", CATALOGUE, people, at=START)


def test_member_seat_must_be_in_the_catalog_with_offered_add_ons() -> None:
    """Members on an unknown seat, or with an add-on their seat lacks, are refused."""
    owner = Member("olga", "primary_owner", CHAT)
    with pytest.raises(UnknownNameError):
        Organization.create("acme", CATALOGUE, [owner, Member("ada", "member", "team")], at=START)
    with pytest.raises(InvalidValueError, match="not offered"):
        Organization.create(
            "acme",
            CATALOGUE,
            [owner, Member("ada", "member", CHAT_AND_CLAUDE_CODE, [HIPAA])],
            at=START,
        )


def test_seat_change_needs_an_aware_timestamp() -> None:
    """A SeatChange at a naive datetime is refused; None as seat type means no seat."""
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        SeatChange("ada", datetime(2026, 10, 1), CHAT)
    with pytest.raises(InvalidValueError, match="collection of names"):
        SeatChange("ada", START, CHAT, HIPAA)
    assert SeatChange("ada", START, None).seat_type is None
