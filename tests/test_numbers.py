"""Numbers for people (core/results/numbers.py): what tables, the verdict and the report print."""

import math

from core.results import numbers


def test_si_prefixes_with_three_digits():
    assert numbers.si(4.57e9, "FLOP") == "4.57 GFLOP"
    assert numbers.si(1.626e11, "FLOP") == "163 GFLOP"
    assert numbers.si(12, "FLOP") == "12 FLOP" and numbers.si(math.nan) == "–"


def test_durations_from_milliseconds_to_years():
    assert [numbers.duration(s) for s in (0, 0.0163, 2.345, 12.3, 754, 3 * 86400, 4e8)] == [
        "0 s", "16.3 ms", "2.35 s", "12 s", "12 min 34 s", "3 days", "12.7 years"]


def test_money_keeps_sensible_digits():
    assert [numbers.money(d) for d in (0.0041, 24.513, 354.0, 12345.6)] == [
        "$0.0041", "$24.51", "$354.00", "$12,346"]
