"""Fitting a budget: the widest width at which a sampled structure stays within the budget,
found by pricing a few widths off the graph, so that a search never trains a network over it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasblocks._cost import Cost
from nasblocks._spec import Spec
from nasblocks.errors import SpecError

if TYPE_CHECKING:
    from nasblocks._space import Space


@dataclass(frozen=True)
class Fitted:
    """A sampled structure at the width that fits (``fitted`` is None when none does).

    ``error`` says why the sampled structure does not build at all (then ``cost`` is None)."""

    params: dict[str, Any]
    cost: Cost | None
    fitted: Any
    sampled: Any
    feasible: bool
    error: str | None = None


def fit_width(space: Space, params: Mapping[str, Any], price: Callable[[Spec], Cost],
              feasible: Callable[[Cost], bool], *, fit: bool = True) -> Fitted:
    """Scale the space's fit var down to the largest value that keeps the cost feasible.

    Cost is read off the graph in milliseconds and grows with width (up to channel rounding), so
    a binary search over the width domain below the sampled value finds the widest network within
    budget in a few pricings; no value is trusted without being priced, and a width at which the
    structure does not build counts as not fitting. With no fit var (or ``fit`` false) the
    structure is only checked. ``Fitted.feasible`` false means even the narrowest width
    overshoots: such a structure is rejected, never trained; its cost is then the narrowest one's.
    """
    params = dict(params)
    sampled = params.get(space.fit) if space.fit else None

    def cost_at(width: Any) -> Cost | None:
        try:
            return price(space.spec({**params, space.fit: width} if space.fit else params))
        except SpecError:
            return None

    def fits(cost: Cost | None) -> bool:
        return cost is not None and feasible(cost)

    error = None
    try:
        cost: Cost | None = price(space.spec(params))
    except SpecError as err:  # a narrower width may still build (ShuffleNet v1's missing columns)
        cost, error = None, str(err)
    if cost is not None and (feasible(cost) or not fit or space.fit is None):
        return Fitted(params, cost, sampled, sampled, feasible(cost))
    if cost is None and (not fit or space.fit is None):
        return Fitted(params, None, None, sampled, False, error)
    candidates = space.domain(space.fit).at_most(sampled)[1:]  # the sampled value itself failed
    narrowest = cost_at(candidates[-1]) if candidates else None
    if not fits(narrowest):
        if narrowest is None and cost is None:
            return Fitted(params, None, None, sampled, False, error)
        return Fitted({**params, space.fit: candidates[-1]} if narrowest else params, narrowest or cost,
                      None, sampled, False)
    lo, hi = 0, len(candidates) - 1  # candidates[hi] fits; find the smallest index that fits
    found: dict[int, Cost] = {hi: narrowest}  # type: ignore[dict-item]
    while lo < hi:
        mid = (lo + hi) // 2
        mid_cost = cost_at(candidates[mid])
        if fits(mid_cost):
            hi, found[mid] = mid, mid_cost  # type: ignore[assignment]
        else:
            lo = mid + 1
    return Fitted({**params, space.fit: candidates[hi]}, found[hi], candidates[hi], sampled, True)


