"""Money: exact construction, arithmetic, comparisons, the one rounding rule, display."""

import decimal
import math
import pickle
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagebill import (
    CurrencyMismatchError,
    InvalidValueError,
    Money,
    MoneyTypeError,
    UsageBillError,
    minor_unit,
)
from usagebill import money as money_module
from usagebill.money import EXACT, ROUNDING, exact_decimal, unchecked_money
from usagebill.testing import currencies, decimals_for_money, money

usd = money("USD")

# --- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, Decimal(5)),
        (-3, Decimal(-3)),
        ("12.30", Decimal("12.30")),
        ("-0.005", Decimal("-0.005")),
        ("1E+3", Decimal(1000)),
        (Decimal("0.1"), Decimal("0.1")),
        (10**40, Decimal(10**40)),
    ],
)
def test_builds_from_int_str_and_decimal(value, expected):
    """An int, a str or a Decimal gives exactly that amount, in USD by default."""
    m = Money(value)
    assert m.amount == expected
    assert type(m.amount) is Decimal
    assert m.currency == "USD"


def test_keeps_the_given_currency():
    """The second argument is the ISO 4217 currency."""
    assert Money("5", "EUR").currency == "EUR"
    assert Money(amount="5", currency="JPY") == Money(5, "JPY")


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), -2.5])
def test_float_is_a_money_type_error_that_explains_why(value):
    """A float never becomes money: MoneyTypeError (a TypeError) says floats cannot hold 0.1."""
    with pytest.raises(MoneyTypeError, match="binary floats") as caught:
        Money(value)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, UsageBillError)
    assert "0.1 + 0.2 != 0.3" in str(caught.value)
    assert "'0.10'" in str(caught.value)  # and what to write instead


@pytest.mark.parametrize("value", [True, False, None, [1], (1,), {"amount": 1}, 1j, b"1"])
def test_bool_and_other_types_are_money_type_errors(value):
    """A bool is not an amount (though it is an int), and neither is any other type."""
    with pytest.raises(MoneyTypeError, match="must be an int, str or Decimal") as caught:
        Money(value)
    assert isinstance(caught.value, TypeError)
    assert "binary floats" not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", Decimal("NaN"), Decimal("-Infinity")],
)
def test_nan_and_infinity_are_invalid_values(value):
    """NaN and infinities are not amounts: InvalidValueError (a ValueError) names the field."""
    with pytest.raises(InvalidValueError, match="finite") as caught:
        Money(value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == "amount"


@pytest.mark.parametrize("value", ["", "abc", "1,5", "12.3.4", "$5", "0x10"])
def test_text_that_is_not_a_number_is_an_invalid_value(value):
    """A str must spell a decimal number."""
    with pytest.raises(InvalidValueError, match="must be a decimal number") as caught:
        Money(value)
    assert caught.value.value == value


@pytest.mark.parametrize("value", ["1" * 61, "1e1000000", "1e-1000100", 10**61 + 1])
def test_amounts_too_long_for_exact_arithmetic_are_refused(value):
    """An amount exact arithmetic could not hold (over 60 digits, absurd exponents) is refused."""
    with pytest.raises(InvalidValueError, match="60 significant digits"):
        Money(value)


def test_sixty_digits_are_fine():
    """60 significant digits is the documented limit and still works end to end."""
    digits = "1" * 50 + "." + "1" * 10
    m = Money(digits)
    assert repr(m) == f"Money('{digits}', 'USD')"
    assert (m - m).is_zero()
    assert str(m.rounded()) == "1" * 50 + ".11 USD"


@pytest.mark.parametrize(
    "value",
    [10**5_000, "1E+50", -(10**50), Decimal("1" * 51)],
    ids=["10**5000", "1E+50", "-10**50", "51 digits"],
)
def test_amounts_too_large_to_round_are_refused(value):
    """One significant digit, yet 5,001 before the point: rounding it to cents would fail."""
    with pytest.raises(InvalidValueError, match=r"less than 10\*\*50") as caught:
        Money(value)
    assert "5001" not in str(caught.value)  # the message shows the value shortened


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "", "U$D", 840, None, b"USD"])
def test_a_currency_must_be_three_capital_letters(currency):
    """The currency is a three-letter ISO 4217 code, upper case."""
    with pytest.raises(InvalidValueError, match="three-letter ISO 4217") as caught:
        Money(1, currency)
    assert caught.value.field == "currency"
    assert isinstance(caught.value, ValueError)


def test_money_is_frozen():
    """Money cannot be changed in place; arithmetic returns new values."""
    m = Money(1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        m.amount = Decimal(2)  # type: ignore[misc]


def test_zero_is_zero_in_its_currency():
    """Money.zero() is an exact zero, falsy, in USD unless told otherwise."""
    assert Money.zero() == Money(0)
    assert Money.zero("JPY").currency == "JPY"
    assert Money.zero().is_zero()
    assert not Money.zero()
    assert Money("0.01")
    assert not Money("-0.00")


def test_exact_decimal_helper():
    """exact_decimal is the shared gate: it names the field it checks."""
    assert exact_decimal("0.30") == Decimal("0.30")
    with pytest.raises(MoneyTypeError, match=r"^rate must be"):
        exact_decimal(0.3, "rate")
    with pytest.raises(InvalidValueError, match=r"^rate must be a finite"):
        exact_decimal("NaN", "rate")


# --- arithmetic --------------------------------------------------------------------------------


def test_addition_and_subtraction_are_exact():
    """0.10 + 0.20 is 0.30, exactly (it is not with floats)."""
    assert Money("0.10") + Money("0.20") == Money("0.30")
    assert Money("12.30") + Money("0.005") == Money("12.305")
    assert Money("0.30") - Money("0.10") == Money("0.20")


def test_b_minus_a_has_the_right_sign():
    """b - a is b minus a (py-moneyed's __rsub__ = __sub__ gave a - b)."""
    a, b = Money(3), Money(10)
    assert b - a == Money(7)
    assert a - b == Money(-7)
    assert (a - b) < Money(0) < (b - a)


def test_unary_operators():
    """-m negates, +m is m, abs(m) drops the sign."""
    m = Money("12.5")
    assert -m == Money("-12.5")
    assert -m + m == Money(0)
    assert abs(-m) == m
    assert +m is m
    assert abs(Money("-0.75")) == Money("0.75")
    assert abs(m) == m
    assert (-Money("1.5", "EUR")).currency == "EUR"


def test_negation_and_abs_keep_every_digit():
    """-(10/3) keeps all 50 digits of the quotient (a bare -Decimal would round to 28)."""
    third = Money(10) / 3  # 3.333… with 50 significant digits
    assert len((-third).amount.as_tuple().digits) == 50
    assert -third + third == Money(0)
    assert abs(-third) == third


@pytest.mark.parametrize(
    ("factor", "expected"),
    [(3, "3.69"), (Decimal("0.5"), "0.615"), (0, "0"), (-2, "-2.46"), (Decimal("1.1"), "1.353")],
)
def test_multiplies_by_int_or_decimal(factor, expected):
    """Money * int and Money * Decimal are exact: 1.23 x 1.1 = 1.353."""
    assert Money("1.23") * factor == Money(expected)
    assert factor * Money("1.23") == Money(expected)


def test_divides_by_int_or_decimal():
    """/ is exact when the quotient terminates (10 / 4 = 2.5; 1 / 0.8 = 1.25)."""
    assert Money(10) / 4 == Money("2.5")
    assert Money(1) / Decimal("0.8") == Money("1.25")
    assert Money("-9") / 3 == Money(-3)


def test_division_that_does_not_terminate_keeps_fifty_digits():
    """1 / 3 is 0.333… to 50 significant digits, rounded half-even at the last one."""
    assert (Money(1) / 3).amount == Decimal("0." + "3" * 50)
    assert (Money(2) / 3).amount == Decimal("0." + "6" * 49 + "7")


@pytest.mark.parametrize("zero", [0, Decimal(0), Decimal("-0.00")])
def test_division_by_zero_is_an_arithmetic_error(zero):
    """x / 0 raises decimal's DivisionByZero; 0 / 0 its InvalidOperation (both ArithmeticError)."""
    with pytest.raises(ZeroDivisionError):
        Money(1) / zero
    with pytest.raises(decimal.InvalidOperation):
        Money(0) / zero


@pytest.mark.parametrize("bare", [5, 0, Decimal(5), "5", 5.0, None])
def test_money_plus_a_bare_number_is_a_money_type_error(bare):
    """Money + 5 is an error (the `money` package allows it); so is Money - 5."""
    with pytest.raises(MoneyTypeError, match="Money only combines with Money") as caught:
        Money(1) + bare
    assert isinstance(caught.value, TypeError)
    with pytest.raises(MoneyTypeError):
        Money(1) - bare


@pytest.mark.parametrize("bare", [5, Decimal(0), 1.5])
def test_a_bare_number_plus_money_is_a_money_type_error(bare):
    """5 + Money is an error too; only the int 0 that sum() starts from is let through."""
    with pytest.raises(MoneyTypeError):
        bare + Money(1)
    assert 0 + Money(1) == Money(1)


def test_false_plus_money_is_not_taken_for_zero():
    """False == 0 in Python, but it does not start a sum of money."""
    with pytest.raises(MoneyTypeError):
        False + Money(1)


@pytest.mark.parametrize("factor", [Money(2), 0.5, 2.0, True, "2", None, Fraction(1, 2)])
def test_bad_factors_are_money_type_errors(factor):
    """Money * Money, Money * 0.5 (a float) and Money / Money are typed errors."""
    with pytest.raises(MoneyTypeError, match="multiplied or divided by an int or a Decimal"):
        Money(1) * factor
    with pytest.raises(MoneyTypeError):
        factor * Money(1)
    with pytest.raises(MoneyTypeError):
        Money(1) / factor


@pytest.mark.parametrize("factor", [Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_factors_are_invalid(factor):
    """A NaN or infinite Decimal factor is an InvalidValueError naming the factor."""
    with pytest.raises(InvalidValueError) as caught:
        Money(1) * factor
    assert caught.value.field == "factor"


def test_arithmetic_that_cannot_stay_exact_raises_instead_of_rounding():
    """A product needing more than 60 digits raises decimal.Inexact: never a silent rounding."""
    big = Money("1" * 40)
    with pytest.raises(decimal.Inexact):
        big * Decimal("1." + "1" * 30)


# --- mixed currencies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
        lambda a, b: a == b,
        lambda a, b: a != b,
    ],
    ids=["+", "-", "<", "<=", ">", ">=", "==", "!="],
)
def test_mixed_currencies_raise(operation):
    """USD and EUR never mix, even for ==: CurrencyMismatchError, a ValueError."""
    with pytest.raises(CurrencyMismatchError) as caught:
        operation(Money(1, "EUR"), Money(1, "USD"))
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, InvalidValueError)
    assert (error.expected, error.got) == ("EUR", "USD")
    assert str(error) == "currency must be EUR: currencies never mix (got 'USD')"


def test_mixed_currencies_in_a_sum_raise():
    """sum() and Money.sum() refuse a second currency."""
    with pytest.raises(CurrencyMismatchError):
        sum([Money(1), Money(1, "EUR")])
    with pytest.raises(CurrencyMismatchError):
        Money.sum([Money(1, "EUR")])  # the sum is in USD unless told otherwise


# --- comparisons and hashing -------------------------------------------------------------------


def test_comparisons():
    """Money orders by amount within a currency; sorted, min and max work."""
    small, big = Money("0.99"), Money("1.00")
    assert small < big
    assert small <= big
    assert big > small
    assert big >= small
    assert small <= Money("0.990")
    assert small >= Money("0.990")
    assert not small > big
    assert sorted([big, small, Money(-1)]) == [Money(-1), small, big]
    assert max(small, big) is big


def test_equality_ignores_trailing_zeros_and_hashes_alike():
    """Money('1.0') and Money('1.00') are equal and hash alike: one set member, one dict key."""
    assert Money("1.0") == Money("1.00") == Money(1)
    assert hash(Money("1.0")) == hash(Money("1.00")) == hash(Money(1))
    assert len({Money("1.0"), Money("1.00"), Money(1)}) == 1
    assert {Money("1.0"): "x"}[Money("1.000")] == "x"


def test_same_amount_in_two_currencies_are_two_set_members():
    """Hashes include the currency, so a set may hold 1 USD and 1 EUR."""
    assert len({Money(1), Money(1, "EUR")}) == 2


@pytest.mark.parametrize("other", [1, Decimal(1), "1", None, 1.0])
def test_money_is_never_equal_to_a_bare_number(other):
    """Money == 1 is False (not an error): only Money equals Money."""
    assert Money(1) != other
    assert other != Money(1)


@pytest.mark.parametrize("other", [1, Decimal(1), 1.0])
def test_ordering_against_a_bare_number_is_a_money_type_error(other):
    """Money < 1 is an error rather than a guess."""
    with pytest.raises(MoneyTypeError):
        Money(0) < other  # noqa: B015


# --- sums --------------------------------------------------------------------------------------


def test_builtin_sum_works():
    """sum() of Money starts from int 0 and gives Money: 1.25 + 2.50 = 3.75."""
    assert sum([Money("1.25"), Money("2.50")]) == Money("3.75")
    assert sum([Money("1", "EUR")]) == Money(1, "EUR")


def test_money_sum_gives_an_explicit_zero_for_nothing():
    """Money.sum([]) is zero in the given currency (sum([]) would be the int 0)."""
    assert Money.sum([]) == Money(0)
    assert Money.sum([], "JPY") == Money(0, "JPY")
    assert Money.sum([], "JPY").currency == "JPY"
    assert Money.sum(Money(n) for n in range(5)) == Money(10)
    assert Money.sum([Money("0.1", "EUR")] * 3, "EUR") == Money("0.3", "EUR")


@pytest.mark.parametrize("item", [1, Decimal(1), "1", 1.0, None])
def test_money_sum_adds_money_only(item):
    """Money.sum refuses bare numbers with MoneyTypeError."""
    with pytest.raises(MoneyTypeError, match="adds Money only"):
        Money.sum([Money(1), item])


# --- rounding: half-even at the minor unit -----------------------------------------------------


def test_the_rounding_rule_is_half_even():
    """ROUNDING is decimal's ROUND_HALF_EVEN."""
    assert ROUNDING == decimal.ROUND_HALF_EVEN


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "USD", "0.12"),  # half: to the even cent
        ("0.135", "USD", "0.14"),
        ("0.115", "USD", "0.12"),
        ("0.1251", "USD", "0.13"),  # past half: up
        ("-0.125", "USD", "-0.12"),
        ("-0.135", "USD", "-0.14"),
        ("12.3", "USD", "12.30"),
        ("2.5", "JPY", "2"),  # JPY has no minor unit
        ("3.5", "JPY", "4"),
        ("7", "JPY", "7"),
        ("1.0005", "KWD", "1.000"),  # KWD has three decimals
        ("1.0015", "KWD", "1.002"),
        ("1.00049", "KWD", "1.000"),
        ("0.00005", "CLF", "0.0000"),  # CLF has four
    ],
)
def test_rounded_is_half_even_at_the_minor_unit(amount, currency, expected):
    """rounded() rounds once, half to even, to cents (USD), yen (JPY), fils (KWD)."""
    result = Money(amount, currency).rounded()
    assert result == Money(expected, currency)
    assert result.amount.as_tuple().exponent == -minor_unit(currency)


def test_minor_units():
    """minor_units counts cents after rounding: 12.345 USD is 1234 cents (half-even)."""
    assert Money("12.345").minor_units == 1234
    assert Money("12.355").minor_units == 1236
    assert Money("7.5", "JPY").minor_units == 8
    assert Money("1.2345", "KWD").minor_units == 1234
    assert Money("-0.015").minor_units == -2
    assert minor_unit("USD") == 2
    assert minor_unit("JPY") == 0
    assert minor_unit("KWD") == 3
    assert minor_unit("XYZ") == 2  # any other code: cents


def test_rounding_ignores_the_global_decimal_context():
    """A caller's decimal context (3 digits, half-up, trapping Inexact) changes nothing."""
    with decimal.localcontext() as context:
        context.prec = 3
        context.rounding = decimal.ROUND_HALF_UP
        context.traps[decimal.Inexact] = True
        assert Money("123.456").rounded() == Money("123.46")
        assert Money("0.125").rounded() == Money("0.12")
        assert Money("123.456").minor_units == 12346
        assert f"{Money('0.125'):.2f}" == "0.12 USD"
        assert -Money("123.456") == Money("-123.456")
        assert abs(Money("-123.456")) == Money("123.456")


def test_rounding_a_very_large_amount():
    """Amounts beyond 28 digits (the default context's precision) still round."""
    big = Money("12345678901234567890123456789.005")
    assert big.rounded() == Money("12345678901234567890123456789.00")


# --- display -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money_", "text"),
    [
        (Money("12.3"), "12.30 USD"),
        (Money("12.305"), "12.305 USD"),
        (Money("0.0548625"), "0.0548625 USD"),
        (Money(5), "5.00 USD"),
        (Money("1E+3"), "1000.00 USD"),
        (Money("-0.5"), "-0.50 USD"),
        (Money(5, "JPY"), "5 JPY"),
        (Money("5.5", "JPY"), "5.5 JPY"),
        (Money("1.2", "KWD"), "1.200 KWD"),
        (Money("12.3000"), "12.30 USD"),
    ],
)
def test_str_shows_the_exact_amount_with_at_least_the_minor_unit(money_, text):
    """str() never rounds and pads to the currency's minor unit: '12.30 USD'."""
    assert str(money_) == text


@pytest.mark.parametrize(
    "money_",
    [
        Money("12.30"),
        Money("-0.005", "EUR"),
        Money("1E+3"),
        Money(10) / 3,
        Money("7", "JPY"),
        Money("0E-10"),
        Money("1" * 50 + "." + "1" * 10),
        Money("1E-30"),
    ],
)
def test_repr_is_readable_and_round_trips_through_eval(money_):
    """repr() is Python that rebuilds an equal Money, with no exponent notation."""
    text = repr(money_)
    assert text.startswith("Money('")
    assert "E" not in text.split("'")[1]  # the amount is positional, never 1E+3
    rebuilt = eval(text, {"Money": Money})  # noqa: S307
    assert rebuilt == money_
    assert rebuilt.currency == money_.currency


def test_repr_examples():
    """The repr drops trailing zeros: Money('12.30') shows as Money('12.3', 'USD')."""
    assert repr(Money("12.30")) == "Money('12.3', 'USD')"
    assert repr(Money("1E+3", "EUR")) == "Money('1000', 'EUR')"
    assert repr(Money("-0.00")) == "Money('0', 'USD')"
    assert str(Money("-0.001").rounded()) == "0.00 USD"  # never '-0.00 USD' on an invoice


def test_format_applies_the_spec_to_the_amount():
    """f'{m:,.2f}' formats the amount (half-even) and appends the currency."""
    assert f"{Money('1234.5'):,.2f}" == "1,234.50 USD"
    assert f"{Money('0.125'):.2f}" == "0.12 USD"
    assert f"{Money('12.3')}" == "12.30 USD"
    assert format(Money(7, "JPY"), ">6") == "     7 JPY"


def test_money_pickles():
    """Money survives pickling (for multiprocessing and caches)."""
    m = Money("12.345", "EUR")
    assert pickle.loads(pickle.dumps(m)) == m  # noqa: S301


# --- properties --------------------------------------------------------------------------------


@given(usd, usd)
def test_adding_then_subtracting_gives_back_the_amount(a, b):
    """(a + b) - b == a, exactly, for any amounts."""
    assert (a + b) - b == a


@given(usd, usd)
def test_addition_commutes(a, b):
    """a + b == b + a."""
    assert a + b == b + a


@given(usd, usd, usd)
def test_addition_associates(a, b, c):
    """(a + b) + c == a + (b + c): no rounding, so grouping does not matter."""
    assert (a + b) + c == a + (b + c)


@given(st.lists(usd, max_size=30), st.randoms(use_true_random=False))
def test_sum_does_not_depend_on_order(amounts, random):
    """Summing in any order gives the same total, equal to the sum of the exact fractions."""
    shuffled = list(amounts)
    random.shuffle(shuffled)
    total = Money.sum(amounts)
    assert Money.sum(shuffled) == total
    assert sum(shuffled, Money(0)) == total
    assert Fraction(total.amount) == sum((Fraction(m.amount) for m in amounts), Fraction(0))


@given(usd, st.integers(-(10**6), 10**6).filter(bool))
def test_multiplying_then_dividing_gives_back_the_amount(a, k):
    """(a * k) / k == a when the quotient terminates (it always does here)."""
    assert (a * k) / k == a
    assert a * k == k * a


@given(usd, usd)
def test_subtraction_is_adding_the_negation(a, b):
    """a - b == a + (-b) and b - a == -(a - b)."""
    assert a - b == a + (-b)
    assert b - a == -(a - b)


@given(money())
def test_results_are_never_floats(m):
    """Every result holds a Decimal amount, never a float."""
    results = [m + m, m - m, -m, abs(m), m * 3, m * Decimal("0.5"), m / 4, m.rounded()]
    for result in results:
        assert type(result.amount) is Decimal
        assert result.currency == m.currency
        assert not isinstance(result.amount, float)


@given(money())
def test_rounded_matches_pythons_half_even_round(m):
    """rounded() equals round() of the exact fraction (Python's round is half-even too)."""
    places = minor_unit(m.currency)
    expected = round(Fraction(m.amount), places)
    assert Fraction(m.rounded().amount) == expected
    assert m.rounded().rounded() == m.rounded()
    assert abs(Fraction((m.rounded() - m).amount)) <= Fraction(1, 2 * 10**places)
    assert m.minor_units == expected * 10**places


@given(money())
def test_repr_round_trips_for_any_money(m):
    """eval(repr(m)) == m for every Money the strategy draws."""
    assert eval(repr(m), {"Money": Money}) == m  # noqa: S307


@given(money())
def test_str_shows_the_exact_amount(m):
    """str() loses nothing: the number it shows is the exact amount."""
    number, currency = str(m).split(" ")
    assert Decimal(number) == m.amount
    assert currency == m.currency
    places = -Decimal(number).as_tuple().exponent
    assert places >= minor_unit(m.currency)


@given(usd, usd)
def test_comparisons_agree_with_the_amounts(a, b):
    """a < b exactly when a.amount < b.amount; == and hash agree."""
    assert (a < b) == (a.amount < b.amount)
    assert (a <= b) == (a.amount <= b.amount)
    assert (a == b) == (a.amount == b.amount)
    if a == b:
        assert hash(a) == hash(b)


@given(currencies(), decimals_for_money())
def test_any_drawn_decimal_builds_money(currency, amount):
    """decimals_for_money() draws only finite Decimals that Money accepts unchanged."""
    assert amount.is_finite()
    assert Money(amount, currency).amount == amount
    assert not math.isnan(amount)


# --- the fast path of results ------------------------------------------------------------------


def test_exact_and_unchecked_money_are_public():
    """EXACT and unchecked_money are money's public names (other modules compute with them)."""
    assert {"EXACT", "unchecked_money"} <= set(money_module.__all__)


@given(usd, usd)
def test_unchecked_money_of_an_exact_sum_equals_the_checked_sum(a, b):
    """unchecked_money(EXACT.add(...)) is the Money that + gives, without the checks."""
    total = unchecked_money(EXACT.add(a.amount, b.amount), "USD")
    assert total == a + b
    assert (total.amount, total.currency) == ((a + b).amount, "USD")
    assert attrs.evolve(total) == total  # a real Money: evolve runs the checks, and they pass
