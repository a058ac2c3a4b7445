import pytest

from language.numbers import digit_string, normalise_numbers, words_to_number


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("fifty", "50"),
        ("twenty five", "25"),
        ("one hundred and twenty", "120"),
        ("two thousand", "2000"),
        ("one zero zero four two", "10042"),
        ("oh seven", "07"),
        ("seven", "7"),
        ("banana", None),
        ("", None),
    ],
)
def test_words_to_number(phrase: str, expected: str | None) -> None:
    assert words_to_number(phrase) == expected


def test_normalise_numbers_keeps_other_words() -> None:
    assert normalise_numbers("shoes under fifty dollars") == "shoes under 50 dollars"
    assert normalise_numbers("order one zero zero zero two please") == "order 10002 please"
    assert normalise_numbers("between twenty and forty") == "between 20 and 40"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("it's 10002", "10002"),
        ("one zero zero zero three", "10003"),
        ("1 0 0 0 4", "10004"),
        ("order number is ten thousand and five", "10005"),
        ("no digits here", None),
    ],
)
def test_digit_string(text: str, expected: str | None) -> None:
    assert digit_string(text) == expected
