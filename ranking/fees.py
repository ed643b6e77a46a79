"""MTurk's fee rule: what a HIT, a batch and a bonus cost.

MTurk's fee (its commission) is 20% of each reward, at least $0.01 per assignment; HITs with 10
or more assignments pay another 20%, and Masters another 5%. Fees are rounded to the cent,
half up, per assignment, as MTurk rounds each transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
BASE_RATE = Decimal("0.20")
MANY_ASSIGNMENTS = 10
MANY_ASSIGNMENTS_RATE = Decimal("0.20")
MASTERS_RATE = Decimal("0.05")


def money(amount: Decimal | float | int | str) -> Decimal:
    """A dollar amount as a Decimal; floats go through their shortest repr, so 0.1 is 0.10."""
    return amount if isinstance(amount, Decimal) else Decimal(str(amount))


def _commission(amount: Decimal, rate: Decimal) -> Decimal:
    """One transaction's fee: ``rate`` of it, rounded half up to the cent, at least a cent."""
    if amount == 0:
        return Decimal("0.00")
    return max(CENT, (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP))


def mturk_fee(reward: Decimal | float, assignments: int, masters: bool = False) -> Decimal:
    """MTurk's fee for one HIT: ``assignments`` assignments paid ``reward`` dollars each.

    Examples
    --------
    >>> mturk_fee(Decimal("0.10"), 3)  # 20% of 0.10 is 0.02, three times
    Decimal('0.06')
    >>> mturk_fee(Decimal("0.10"), 10)  # 40% with ten assignments
    Decimal('0.40')
    >>> mturk_fee(Decimal("0.02"), 1)  # 20% is 0.004: the one-cent minimum
    Decimal('0.01')
    """
    if assignments < 0:
        raise ValueError("assignments must be >= 0")
    reward = money(reward)
    if reward < 0:
        raise ValueError("reward must be >= 0")
    rate = BASE_RATE
    if assignments >= MANY_ASSIGNMENTS:
        rate += MANY_ASSIGNMENTS_RATE
    if masters:
        rate += MASTERS_RATE
    return _commission(reward, rate) * assignments


def bonus_fee(bonus: Decimal | float) -> Decimal:
    """MTurk's fee on one bonus: 20%, at least a cent."""
    bonus = money(bonus)
    if bonus < 0:
        raise ValueError("a bonus must be >= 0")
    return _commission(bonus, BASE_RATE)


@dataclass(frozen=True)
class BatchCost:
    """What a batch costs: rewards to workers, fees to MTurk, and their sum."""

    rewards: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees


def batch_cost(
    n_hits: int, reward: Decimal | float, assignments: int, masters: bool = False
) -> BatchCost:
    """Cost of ``n_hits`` HITs of ``assignments`` assignments each, ``reward`` per assignment."""
    if n_hits < 0:
        raise ValueError("n_hits must be >= 0")
    reward = money(reward)
    return BatchCost(
        rewards=reward * assignments * n_hits,
        fees=mturk_fee(reward, assignments, masters) * n_hits,
    )
