"""RadioModel on hand-placed UEs: sharing, GBR, overrides, blockage, fallback, history, forecasts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from nef_mock.radio import InvalidInput, RadioModel, max_data_rate_bps

from .conftest import FakeClock, scenario

UL_CAP = 0.2 * max_data_rate_bps("FR2", 400, 120, 1, 64, "UL")  # a LOS UE 10 m from the cell reaches it
A, B, FAR = "msisdn-100000001", "msisdn-100000002", "msisdn-100000003"


@pytest.fixture
def two_near(make_model: Callable[..., RadioModel]) -> RadioModel:
    """Two static UEs 10 m from the FR2 cell (always LOS there) and one far away on FR1."""
    model: RadioModel = make_model()
    model.attach(A, "static", (10.0, 0.0))
    model.attach(B, "static", (0.0, 10.0))
    model.attach(FAR, "static", (400.0, 400.0))
    return model


def test_near_ues_are_on_fr2_at_the_cap_and_the_far_one_on_fr1(two_near: RadioModel) -> None:
    a, far = two_near.link(A), two_near.link(FAR)
    assert (a.connected, a.band, a.cell_id, a.tac) == (True, "FR2", "000000101", "0002")
    assert a.ul_rate_bps == pytest.approx(UL_CAP)
    assert (far.band, far.cell_id) == ("FR1", "000000010")
    assert 0 < far.ul_rate_bps < 100e6


def test_two_active_uplinks_share_the_cell_equally(two_near: RadioModel) -> None:
    # Prepare
    ta = two_near.begin_transfer(A, "UL", 10**9)
    # Assert: alone it gets the cell; B, not sending, is quoted what it would get if it started now
    assert two_near.transfer_rate(ta) == pytest.approx(UL_CAP)
    assert two_near.link(B).ul_rate_bps == pytest.approx(UL_CAP / 2)
    # Execute
    tb = two_near.begin_transfer(B, "UL", 10**9)
    # Assert
    assert two_near.transfer_rate(ta) == pytest.approx(UL_CAP / 2)
    assert two_near.transfer_rate(tb) == pytest.approx(UL_CAP / 2)
    fr2 = next(c for c in two_near.cells() if c.cell_id == "000000101")
    assert (fr2.active_ul, fr2.active_dl, fr2.ues) == (2, 0, 2)
    two_near.end_transfer(ta)
    assert two_near.transfer_rate(tb) == pytest.approx(UL_CAP)
    with pytest.raises(KeyError):
        two_near.transfer_rate(ta)


def test_uplink_transfers_leave_the_downlink_alone(two_near: RadioModel) -> None:
    before = two_near.link(A).dl_rate_bps
    two_near.begin_transfer(A, "UL", 1)
    two_near.begin_transfer(B, "UL", 1)
    assert two_near.link(A).dl_rate_bps == before


def test_two_transfers_of_one_ue_split_its_share(two_near: RadioModel) -> None:
    t1 = two_near.begin_transfer(A, "UL", 1)
    t2 = two_near.begin_transfer(A, "UL", 1)
    assert two_near.transfer(t1).rate_bps == pytest.approx(UL_CAP / 2)
    assert two_near.transfer(t2).cell_id == "000000101"


def test_granted_gbr_is_served_first(two_near: RadioModel) -> None:
    two_near.begin_transfer(A, "UL", 1)
    tb = two_near.begin_transfer(B, "UL", 1)
    ga = two_near.grant_gbr(A, 0.5 * UL_CAP, 0.0)
    # A: its reserved half plus an equal share of the other half; B only the equal share
    assert two_near.link(A).ul_rate_bps == pytest.approx(0.75 * UL_CAP)
    assert two_near.transfer_rate(tb) == pytest.approx(0.25 * UL_CAP)
    assert two_near.gbr_satisfied(ga)
    gb = two_near.grant_gbr(B, 0.6 * UL_CAP, 0.0)  # 0.5 + 0.6 of the cell: does not fit
    assert not two_near.gbr_satisfied(gb)
    assert two_near.gbr_satisfied(ga)  # the earlier grant keeps its place
    two_near.revoke_gbr(gb)
    two_near.revoke_gbr(gb)  # revoking twice is harmless
    with pytest.raises(KeyError):
        two_near.gbr_satisfied(gb)


def test_gbr_not_satisfied_when_disconnected_or_fr1_too_slow(two_near: RadioModel) -> None:
    far = two_near.grant_gbr(FAR, 1e9, 0.0)
    assert not two_near.gbr_satisfied(far)  # FR1 UL is tens of Mbps
    ga = two_near.grant_gbr(A, 1e6, 1e6)
    assert two_near.gbr_satisfied(ga)
    two_near.override(A, connected=False)
    assert not two_near.gbr_satisfied(ga)


def test_overrides_and_clearing_them(two_near: RadioModel) -> None:
    down = two_near.override(A, connected=False)
    assert (down.connected, down.band, down.cell_id, down.ul_rate_bps, down.dl_rate_bps) == (
        False,
        None,
        None,
        0,
        0,
    )
    assert two_near.override(A, connected=None).band == "FR2"
    forced = two_near.override(A, ul_rate_bps=5e6, dl_rate_bps=7e6)
    assert (forced.ul_rate_bps, forced.dl_rate_bps) == (5e6, 7e6)
    t = two_near.begin_transfer(A, "UL", 1)
    assert two_near.transfer_rate(t) == 5e6
    # KEEP (the default) leaves the other overrides as they are
    blocked = two_near.override(A, blocked=True)
    assert blocked.blocked and blocked.ul_rate_bps == 5e6
    cleared = two_near.override(A, ul_rate_bps=None, blocked=None)
    assert not cleared.blocked and cleared.ul_rate_bps == pytest.approx(UL_CAP)
    assert cleared.dl_rate_bps == 7e6
    with pytest.raises(InvalidInput) as err:
        two_near.override(A, ul_rate_bps=-1.0)
    assert err.value.field == "ul_rate_bps"
    with pytest.raises(KeyError):
        two_near.override("msisdn-999999999", blocked=True)


def test_blockage_costs_30_db_on_fr2_and_3_db_on_fr1(two_near: RadioModel) -> None:
    a0, far0 = two_near.link(A), two_near.link(FAR)
    a1 = two_near.override(A, blocked=True)
    far1 = two_near.override(FAR, blocked=True)
    assert a0.sinr_ul_db - a1.sinr_ul_db == pytest.approx(30.0)
    assert a0.sinr_dl_db - a1.sinr_dl_db == pytest.approx(30.0)
    assert far0.sinr_ul_db - far1.sinr_ul_db == pytest.approx(3.0)
    assert a1.ul_rate_bps < a0.ul_rate_bps


def test_natural_blockage_episodes_drop_sinr_by_30_db(
    make_model: Callable[..., RadioModel], clock: FakeClock
) -> None:
    model = make_model(blockage={"mean_blocked_s": 0.5, "mean_clear_s": 2.0})
    model.attach(A, "static", (10.0, 0.0))
    seen: dict[bool, set[float]] = {True: set(), False: set()}
    for _ in range(300):
        clock.advance(0.1)
        link = model.link(A)
        seen[link.blocked].add(round(link.sinr_ul_db, 6))
    assert len(seen[True]) == 1 and len(seen[False]) == 1  # a static UE: only blockage changes
    assert seen[False].pop() - seen[True].pop() == pytest.approx(30.0)


def test_weak_fr2_falls_back_to_fr1(make_model: Callable[..., RadioModel]) -> None:
    weak = make_model(
        bands={**scenario().model_dump()["bands"], "FR2": {"carrier_ghz": 28, "ue_tx_dbm": -40}}
    )
    link = weak.attach(A, "static", (10.0, 0.0))
    assert link.band == "FR1"  # FR2 UL SNR is far below -5 dB


def test_drop_to_fr1_after_the_rlf_timer_and_back_after_the_return_time(
    make_model: Callable[..., RadioModel], clock: FakeClock
) -> None:
    # An 80 dB blockage puts FR2 far below -5 dB; defaults: drop after 1 s, back after 3 s good
    bands = scenario().model_dump()["bands"]
    model = make_model(bands={**bands, "FR2": {**bands["FR2"], "blockage_loss_db": 80}})
    model.attach(A, "static", (10.0, 0.0))
    model.override(A, blocked=True)
    clock.advance(0.5)
    hanging = model.link(A)
    assert hanging.band == "FR2" and hanging.ul_rate_bps == 0.0  # a rate dip, not yet a switch
    clock.advance(1.0)
    assert model.link(A).band == "FR1"
    model.override(A, blocked=False)
    clock.advance(2.0)
    assert model.link(A).band == "FR1"
    clock.advance(1.5)
    assert model.link(A).band == "FR2"


def test_same_seed_same_links_whatever_the_query_pattern(clock: FakeClock) -> None:
    from nef_mock.radio import load_scenario

    sc = load_scenario(None)
    other = FakeClock(clock.t)
    often, rarely = RadioModel(sc, clock=clock), RadioModel(sc, clock=other)
    seq_often, seq_rarely = [], []
    for k in range(50):
        clock.advance(0.1)
        seq_often.append(often.links())
        if k % 10 == 9:
            other.advance(1.0)
            seq_rarely.append(rarely.links())
    assert seq_rarely == seq_often[9::10]
    assert len({link.band for links in seq_often for link in links}) >= 2  # something happens


def test_a_ue_evolves_the_same_with_or_without_the_others(clock: FakeClock) -> None:
    from nef_mock.radio import load_scenario

    sc = load_scenario(None)
    crowd = RadioModel(sc, clock=clock)
    alone = RadioModel(
        sc.model_copy(update={"population": sc.population.model_copy(update={"count": 0})}), clock=clock
    )
    gpsi = crowd.gpsis()[5]
    alone.attach(gpsi)
    clock.advance(20.0)
    assert crowd.link(gpsi) == alone.link(gpsi)


def test_other_seed_other_world() -> None:
    from nef_mock.radio import load_scenario

    sc = load_scenario(None)
    c = FakeClock()
    a = RadioModel(sc, clock=c).links()
    b = RadioModel(sc.model_copy(update={"seed": sc.seed + 1}), clock=c).links()
    assert [x.position for x in a] != [x.position for x in b]


def test_attach_is_idempotent_and_placement_deterministic(make_model: Callable[..., RadioModel]) -> None:
    m1, m2 = make_model(), make_model()
    first = m1.attach("msisdn-555000111")
    assert m1.attach("msisdn-555000111", "vehicle", (1.0, 1.0)) == first  # arguments ignored once attached
    assert m2.attach("msisdn-555000111") == first
    assert m1.known("msisdn-555000111") and not m1.known("msisdn-555000112")
    with pytest.raises(KeyError):
        m1.link("msisdn-555000112")


def test_class_mix_follows_the_scenario(make_model: Callable[..., RadioModel]) -> None:
    model = make_model(population={"count": 1000, "mix": {"static": 0.2, "pedestrian": 0.5, "vehicle": 0.3}})
    counts = dict.fromkeys(("static", "pedestrian", "vehicle"), 0)
    for link in model.links():
        counts[link.mobility] += 1
    assert counts["static"] == pytest.approx(200, abs=45)
    assert counts["pedestrian"] == pytest.approx(500, abs=55)
    assert counts["vehicle"] == pytest.approx(300, abs=50)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mobility": "bicycle"}, "mobility"),
        ({"position": (-5.0, 10.0)}, "position"),
        ({"position": (10.0, 1e4)}, "position"),
    ],
)
def test_bad_attach_input_names_the_field(
    make_model: Callable[..., RadioModel], kwargs: Any, field: Any
) -> None:
    with pytest.raises(InvalidInput) as err:
        make_model().attach("msisdn-555000111", **kwargs)
    assert err.value.field == field


def test_time_scale_speeds_up_model_time(make_model: Callable[..., RadioModel], clock: FakeClock) -> None:
    model = make_model(time_scale=10.0)
    model.attach(A, "static", (10.0, 0.0))
    clock.advance(1.0)
    assert model.now() == pytest.approx(10.0)
    assert model.link(A).model_time == pytest.approx(10.0)


def test_statistics_cover_the_recorded_window_only(
    make_model: Callable[..., RadioModel], clock: FakeClock
) -> None:
    model = make_model(history_s=10.0)
    model.attach(A, "static", (10.0, 0.0))
    clock.advance(5.0)
    model.attach(B, "pedestrian")
    clock.advance(25.0)  # now 30 s; history keeps (20, 30]
    s = model.statistics(A, 22.0, 26.0)
    assert s is not None and not s.predicted
    assert s.samples == 41 and s.ul_mean_bps == pytest.approx(UL_CAP) and s.fr2_share == 1.0
    assert model.statistics(A, 0.0, 15.0) is None  # forgotten
    assert model.statistics(A, 31.0, 40.0) is None  # not yet
    whole = model.statistics(A, 0.0, 30.0)
    assert whole is not None and whole.samples == 100
    assert model.statistics(B, 0.0, 4.0) is None  # before it attached


def test_forecast_is_deterministic_and_sees_the_load(
    two_near: RadioModel, clock: FakeClock, make_model: Callable[..., RadioModel]
) -> None:
    f = two_near.forecast(A, 0.0, 2.0)
    assert f.predicted and f.samples == 32 and f.fr2_share == 1.0 and f.connected_share == 1.0
    assert f.ul_mean_bps == pytest.approx(UL_CAP) and f.ul_p05_bps == pytest.approx(UL_CAP)
    assert f.start == pytest.approx(two_near.now()) and f.end == pytest.approx(two_near.now() + 2.0)
    twin = make_model()
    twin.attach(A, "static", (10.0, 0.0))
    twin.attach(B, "static", (0.0, 10.0))
    twin.attach(FAR, "static", (400.0, 400.0))
    assert twin.forecast(A, 0.0, 2.0) == f
    two_near.begin_transfer(B, "UL", 1)
    assert two_near.forecast(A, 0.0, 2.0).ul_mean_bps == pytest.approx(UL_CAP / 2)
    many = two_near.forecast_many([A, B], 1.0, 1.0, samples=8)
    assert set(many) == {A, B} and many[B].samples == 8


def test_forecast_of_a_moving_ue_spreads(make_model: Callable[..., RadioModel]) -> None:
    model = make_model(blockage={"mean_blocked_s": 0.5, "mean_clear_s": 3.0})
    model.attach(A, "vehicle", (100.0, 0.0))
    f = model.forecast(A, 0.0, 30.0, samples=64)
    assert f.ul_p05_bps < f.ul_mean_bps
    assert len(set(f.ul_samples_bps)) > 10


def test_transfer_time_and_deadline_probability_from_forecast(two_near: RadioModel) -> None:
    two_near.override(A, ul_rate_bps=10e6, dl_rate_bps=80e6)
    f = two_near.forecast(A, 0.0, 1.0)
    assert f.transfer_time(10_000_000, 10_000_000) == pytest.approx((8.0, 0.0, 1.0, 0.0))
    assert f.prob_within("UL", 10_000_000, 8.0) == 1.0
    assert f.prob_within("UL", 10_000_000, 7.9) == 0.0
    assert f.prob_within("DL", 0, 0.0) == 1.0
    two_near.override(A, connected=False)
    dead = two_near.forecast(A, 0.0, 1.0)
    assert dead.connected_share == 0.0 and dead.ul_mean_bps == 0.0
    assert dead.transfer_time(1, 0) == (math.inf, math.inf, 0.0, 0.0)


def test_forecast_input_checks(two_near: RadioModel) -> None:
    for kwargs, field in (({"start_offset_s": -1.0}, "start_offset_s"), ({"duration_s": -1.0}, "duration_s")):
        args = {"start_offset_s": 0.0, "duration_s": 1.0, **kwargs}
        with pytest.raises(InvalidInput) as err:
            two_near.forecast(A, args["start_offset_s"], args["duration_s"])
        assert err.value.field == field
    with pytest.raises(KeyError):
        two_near.forecast("msisdn-999999999", 0.0, 1.0)


def test_transfer_input_checks(two_near: RadioModel) -> None:
    with pytest.raises(InvalidInput):
        two_near.begin_transfer(A, "XL", 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        two_near.begin_transfer(A, "UL", -1)
    with pytest.raises(KeyError):
        two_near.begin_transfer("msisdn-999999999", "UL", 1)
