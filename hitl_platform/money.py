"""Money: ``Decimal`` end to end, one rounding rule.

Amounts are kept to a hundredth of a cent (4 decimal places) so that micro-task rewards such as
0.0125 are exact; rounding is half-even ("banker's rounding") so that rounding errors do not drift
in one direction over millions of answers.
"""

from decimal import ROUND_HALF_EVEN, Decimal

PLACES = 4
QUANTUM = Decimal(1).scaleb(-PLACES)  # Decimal("0.0001")
MAX_DIGITS = 14
ZERO = Decimal("0.0000")


def quantize(amount: Decimal | int | str) -> Decimal:
    """Round ``amount`` to the platform's money precision. Floats are refused: they are not money."""
    if isinstance(amount, float):
        raise TypeError("money must not be a float; pass a Decimal, int or str")
    return Decimal(amount).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


# Half a quantum: amounts are multiples of QUANTUM, so "a <= b + HALF" is exactly "a <= b" for them,
# also where a database (SQLite) does the sum in binary floating point and is off by one ulp.
HALF_QUANTUM = QUANTUM / 2
