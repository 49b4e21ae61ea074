import pytest

from nasblocks._budget import Budget, parse_budget
from nasblocks.errors import BudgetError, NasblocksError

EXPECTED = "expected a number followed by a unit (MFLOPs, GMACs, M params, ms)"


@pytest.mark.parametrize("text", ["300MFLOPs", "300MMACs", "0.3GMACs", "0.3GFLOPs", "300 mflops",
                                  "300 M MACs", "3e8 FLOPs", " 300MFLOPS "])
def test_flops_are_multiply_adds(text):
    # REFERENCE.md: FLOPs in budgets are multiply-adds, so every spelling is "300 M" multiply-adds,
    # as precise as written (three significant digits at most): MobileNetV2's 300.8 M fits
    assert parse_budget(text) == Budget(macs=300_999_999)


@pytest.mark.parametrize("text, limit", [("300000KFLOPs", 300_000_999), ("300.0MFLOPs", 300_099_999),
                                         ("300000000 FLOPs", 300_000_000), ("60MFLOPs", 60_099_999),
                                         ("1.5e8FLOPs", 150_999_999)])
def test_a_count_is_as_precise_as_written(text, limit):
    assert parse_budget(text) == Budget(macs=limit)


def test_300mflops_admits_mobilenet_v2_and_300_0_does_not():
    assert parse_budget("300MFLOPs").violations(macs=300_774_272)["macs"] < 0
    assert parse_budget("300.0MFLOPs").violations(macs=300_774_272)["macs"] > 0


@pytest.mark.parametrize("text, limit", [("3.5Mparams", 3_509_999), ("3.5M params", 3_509_999),
                                         ("3500000params", 3_500_000), ("3500 K Params", 3_500_999),
                                         ("3500000 parameters", 3_500_000)])
def test_params(text, limit):
    assert parse_budget(text) == Budget(params=limit)


@pytest.mark.parametrize(("text", "ms"), [("8ms", 8.0), ("8 ms", 8.0), ("8MS", 8.0), ("1.5s", 1500.0),
                                          ("0.25 ms", 0.25)])
def test_latency(text, ms):
    assert parse_budget(text) == Budget(latency_ms=ms)


def test_str_names_multiply_adds():
    assert str(parse_budget("300MFLOPs")) == "≤ 300,999,999 MACs (multiply-adds)"
    assert str(parse_budget("1.5GMACs")) == "≤ 1,509,999,999 MACs (multiply-adds)"
    assert str(parse_budget("3.5M params")) == "≤ 3,509,999 params"
    assert str(parse_budget("500 params")) == "≤ 500 params"
    assert str(parse_budget("8ms")) == "≤ 8 ms"
    assert str(Budget(macs=300_000_000, latency_ms=8.0)) == "≤ 300,000,000 MACs (multiply-adds), ≤ 8 ms"
    assert str(Budget()) == "unbounded"


def test_merge_keeps_the_tighter_bound():
    merged = parse_budget("300MFLOPs").merge(parse_budget("8ms")).merge(parse_budget("200MMACs"))
    assert merged == Budget(macs=200_999_999, latency_ms=8.0)
    assert Budget().merge(Budget(params=5)) == Budget(params=5)


def test_violations_are_relative_overshoot():
    budget = Budget(macs=300_000_000, latency_ms=8.0)
    v = budget.violations(macs=330_000_000, params=123, latency_ms=6.0)
    assert list(v) == ["macs", "latency_ms"]  # only bounded quantities, in a fixed order
    assert v["macs"] == pytest.approx(0.1)
    assert v["latency_ms"] == pytest.approx(-0.25)
    # MobileNetV2 1.0 (300,774,272 MACs) is just over a 300 MFLOPs budget, just under 301
    assert budget.violations(macs=300_774_272, latency_ms=1)["macs"] > 0
    assert Budget(macs=301_000_000).violations(macs=300_774_272)["macs"] < 0
    assert Budget(params=10).violations(params=10) == {"params": 0.0}  # on the limit is feasible


def test_violations_need_every_bounded_value():
    with pytest.raises(ValueError, match="budget bounds latency_ms, so a value for latency_ms is required"):
        Budget(latency_ms=8.0).violations(macs=1)


@pytest.mark.parametrize(("text", "message"), [
    ("", f"budget '': {EXPECTED}, got an empty string"),
    ("   ", f"budget '   ': {EXPECTED}, got an empty string"),
    ("MFLOPs", f"budget 'MFLOPs': {EXPECTED}, got no number at the start"),
    ("300", f"budget '300': {EXPECTED}, got a bare number without a unit"),
    ("60M", f"budget '60M': {EXPECTED}, got the multiplier 'M' without a unit; "
            "did you mean 'MFLOPs' or 'M params'?"),
    ("300MFLOPS x", f"budget '300MFLOPS x': {EXPECTED}, got unknown unit 'MFLOPS x'; "
                    "did you mean 'MFLOPs'?"),
    ("300 mflps", f"budget '300 mflps': {EXPECTED}, got unknown unit 'mflps'; did you mean 'MFLOPs'?"),
    ("8 hours", f"budget '8 hours': {EXPECTED}, got unknown unit 'hours'"),
    ("-5ms", "budget '-5ms': expected a positive, finite amount, got -5"),
    ("0 GMACs", "budget '0 GMACs': expected a positive, finite amount, got 0"),
    ("nan ms", "budget 'nan ms': expected a positive, finite amount, got nan"),
    ("inf MFLOPs", "budget 'inf MFLOPs': expected a positive, finite amount, got inf"),
    ("0.4 params", "budget '0.4 params': expected a count of at least 1, got 0.4"),
])
def test_errors_say_what_must_hold_and_what_was_found(text, message):
    with pytest.raises(BudgetError) as info:
        parse_budget(text)
    assert str(info.value) == message
    assert isinstance(info.value, NasblocksError)


def test_budget_is_immutable_and_hashable():
    budget = parse_budget("8ms")
    with pytest.raises(AttributeError):
        budget.latency_ms = 9.0
    assert {budget, parse_budget("8 ms")} == {budget}
