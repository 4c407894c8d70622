"""TR 22.874 timeline maths: Table 7.x.6-1 reproduced exactly, budgets, ratios and rate parsing."""

from __future__ import annotations

import math

import pytest

from flcore import timeline as tl
from flcore.models import model_info

TABLE = [  # (batch, GPU ms, budget ms, Gbps) as printed in TR 22.874 Table 7.x.6-1
    (64, 325, 162, 6.5),
    (32, 191, 95, 11.1),
    (16, 131, 65, 16.2),
    (8, 111, 55, 19.2),
    (4, 105, 52, 20.3),
]


def test_tr22874_table_is_reproduced_exactly():
    plan = tl.tr22874_table(model_info("vgg16_bn").num_params, 8)
    assert plan.payload_bytes == 138_365_992
    assert round(plan.payload_bytes / 2**20, 2) == 131.96  # the TR's "132 MByte"
    got = [(r.batch, r.compute_ms, r.budget_ms, tl.round_half_up(r.required_gbps, 1)) for r in plan.rows]
    assert got == TABLE


@pytest.mark.parametrize(("compute_ms", "budget_ms"), [(c, b) for _, c, b, _ in TABLE])
def test_tr_budgets_are_half_the_compute_time_floored(compute_ms, budget_ms):
    assert tl.latency_budget_ms(compute_ms, convention="tr22874") == budget_ms
    assert tl.latency_budget_ms(compute_ms) == compute_ms / 2


def test_tr_units_count_a_mib_as_eight_megabits():
    assert tl.payload_bits(132 * 2**20, "tr22874") == pytest.approx(1056e6)
    assert tl.payload_bits(132 * 2**20, "si") == 132 * 2**20 * 8
    # 1056 Mbit / 162 ms, the TR's own arithmetic
    assert tl.required_rate_bps(1056e6, 0.162) == pytest.approx(6.5185e9, rel=1e-4)


def test_si_units_are_about_five_percent_above_the_tr():
    plan = tl.plan(138_365_992, 8, [325.0])
    assert plan.rows[0].budget_ms == 162.5
    assert plan.rows[0].required_gbps == pytest.approx(138_365_992 * 8 / 0.1625 / 1e9)
    assert 6.8 < plan.rows[0].required_gbps < 6.82


def test_aggregation_time_comes_off_each_direction():
    plan = tl.plan(1_000_000, 32, [100.0, 300.0], [8, 32], aggregation_ms=20)
    assert [r.budget_ms for r in plan.rows] == [30.0, 130.0]
    assert plan.rows[0].required_bps == pytest.approx(32e6 / 0.030)
    with pytest.raises(ValueError):
        tl.plan(1_000_000, 32, [40.0], aggregation_ms=20)


def test_ratios_against_link_rates():
    plan = tl.tr22874_table(ul_rate_bps=tl.TR22874_UL_RATE_BPS, dl_rate_bps=tl.TR22874_DL_RATE_BPS)
    first = plan.rows[0]
    assert first.ul_ratio is not None and first.dl_ratio is not None
    assert first.ul_ratio == pytest.approx(first.required_bps / 73.15e6)
    assert first.dl_ratio == pytest.approx(first.required_bps / 144.34e6)
    assert 89 < first.ul_ratio < 89.2  # 6.52 Gbps over 73.15 Mbps
    assert first.ul_s == pytest.approx(plan.payload_bits / 73.15e6)


def test_required_ratio_and_byte_budget():
    # 100 MB at 100 Mbps needs 8 s; in 0.1 s that is an 80x compression
    assert tl.required_ratio(100_000_000, 100e6, 0.1) == pytest.approx(80.0)
    assert tl.required_ratio(1_000, 100e6, 0.1) < 1  # fits uncompressed
    assert tl.byte_budget(100e6, 0.1) == 1_250_000
    with pytest.raises(ValueError):
        tl.required_ratio(1, 0.0, 0.1)


def test_derive_budget_is_floored_at_a_minimum():
    assert tl.derive_budget(0.325, 0.0) == pytest.approx(0.1625)
    assert tl.derive_budget(0.325, 0.05) == pytest.approx(0.1125)
    assert tl.derive_budget(0.1, 0.2) == 0.01
    assert tl.derive_budget(0.1, 0.2, min_budget_s=0.005) == 0.005


def test_payload_bytes_round_up():
    assert tl.payload_bytes(138_365_992, 8) == 138_365_992
    assert tl.payload_bytes(3, 4) == 2
    assert tl.payload_bytes(10, 32) == 40


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("73.15Mbps", 73.15e6),
        ("73.15 Mbps", 73.15e6),
        ("1.2 Gbps", 1.2e9),
        ("1.2Gbps", 1.2e9),
        ("100 Mbit/s", 100e6),
        ("20 Gb/s", 20e9),
        ("500kbps", 500e3),
        ("500k", 500e3),
        ("1e9", 1e9),
        ("2.5e3 kbps", 2.5e6),
        (".5 gbps", 0.5e9),
        ("9600", 9600.0),
    ],
)
def test_parse_rate(text, bps):
    assert tl.parse_rate(text) == pytest.approx(bps)


@pytest.mark.parametrize("text", ["", "fast", "10 MBps", "-5Mbps", "0", "0 Gbps", "1e999", "5 Xbps", "1.2.3"])
def test_parse_rate_refuses(text):
    with pytest.raises(ValueError):
        tl.parse_rate(text)


def test_round_half_up_is_not_bankers_rounding():
    assert tl.round_half_up(0.25, 1) == 0.3
    assert tl.round_half_up(6.516, 1) == 6.5
    assert math.isclose(tl.round_half_up(16.2407, 1), 16.2)


def test_format_rate():
    assert tl.format_rate(73.15e6) == "73.15 Mbps"
    assert tl.format_rate(6.5e9) == "6.5 Gbps"
