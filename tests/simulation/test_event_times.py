"""When simulated events happen: true UTC instants of local clock times, and lawful hours for
the engine's queue contacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from data_contracts.enums import CHANNELS
from evaluation.month import queue_contacts
from simulation import Contacts, HistoricalPolicy, SimulationConfig, catalog, observed_tables, run_history
from simulation.book import _utc_timestamps
from simulation.catalog import CALL, SMS
from tests.simulation.conftest import local_clock

REGION = {region.name: code for code, region in enumerate(catalog.REGIONS)}


def _stamp(config: SimulationConfig, region: str, local: str) -> pd.Timestamp:
    wall = pd.Timestamp(local)
    day = np.array([(wall.normalize() - pd.Timestamp(config.sim_start)).days])
    seconds = np.array([(wall - wall.normalize()).total_seconds()])
    return _utc_timestamps(config, day, np.array([REGION[region]]), seconds).iloc[0]


@pytest.mark.parametrize(
    ("region", "local", "utc"),
    [
        # An evening call in Chicago is after 00:00 UTC of the next UTC day (CDT, UTC-5) ...
        ("midwest", "2025-07-01 19:02:00", "2025-07-02 00:02:00"),
        # ... one hour later in winter (CST, UTC-6).
        ("midwest", "2025-01-15 19:02:00", "2025-01-16 01:02:00"),
        ("northeast", "2025-07-01 08:00:00", "2025-07-01 12:00:00"),
        ("pacific", "2025-12-31 23:59:59", "2026-01-01 07:59:59"),
        ("southwest", "2025-07-01 23:30:00", "2025-07-02 06:30:00"),  # Phoenix: no DST
        ("southwest", "2025-01-15 23:30:00", "2025-01-16 06:30:00"),
        # DST changes in New York: the day's own offset before and after 02:00 ...
        ("northeast", "2025-03-09 01:30:00", "2025-03-09 06:30:00"),
        ("northeast", "2025-03-09 03:30:00", "2025-03-09 07:30:00"),
        ("northeast", "2025-11-02 00:30:00", "2025-11-02 04:30:00"),
        ("northeast", "2025-11-02 02:30:00", "2025-11-02 07:30:00"),
        # ... a time in the spring gap moves to 03:00 EDT; one in the autumn fold is the first pass (EDT).
        ("northeast", "2025-03-09 02:30:00", "2025-03-09 07:00:00"),
        ("northeast", "2025-11-02 01:30:00", "2025-11-02 05:30:00"),
    ],
)
def test_a_local_clock_time_is_stamped_with_its_true_utc_instant(region: str, local: str, utc: str) -> None:
    config = SimulationConfig(n_loans=10)
    assert _stamp(config, region, local) == pd.Timestamp(utc, tz="UTC")


@pytest.fixture(scope="module")
def history():
    config = SimulationConfig(n_loans=1200, seed=17, truth_mc_replicates=0, outside_hours_share=0.2)
    return run_history(config)


def _ordinal(ids: pd.Series) -> np.ndarray:
    return ids.str[1:].astype(np.int64).to_numpy() - 1


def _expected_wall(config: SimulationConfig, day: np.ndarray, seconds: np.ndarray) -> pd.Series:
    start = np.datetime64(config.sim_start, "D").astype("datetime64[ns]")
    offset = day.astype(np.int64) * 86_400 + seconds.astype(np.int64)
    return pd.Series(start + offset.astype("timedelta64[s]").astype("timedelta64[ns]"))


def test_every_stamp_is_the_simulated_local_date_and_time(history) -> None:
    """Converted to its borrower's zone, every stored instant is the simulated local date and
    clock time (a time in the spring DST gap reads 03:00), whatever its UTC date."""
    from simulation.book import _interaction_local_seconds, _payment_local_seconds

    sim, config = history.simulator, history.simulator.config
    tables = observed_tables(sim)
    zone_of = tables["loans"]["borrower_id"].map(tables["borrowers"].set_index("borrower_id")["timezone"])
    zone_of.index = tables["loans"]["loan_id"]
    payments, interactions = tables["payments"], tables["interactions"]
    pay_log, int_log = sim.log.payments(), sim.log.interactions()

    rows = _ordinal(payments["payment_id"])
    method = payments["method"].map({m: i for i, m in enumerate(catalog.PAYMENT_METHODS)}).to_numpy()
    pay_wall = _expected_wall(
        config, pay_log["day"][rows], _payment_local_seconds(method, pay_log["u_time"][rows])
    )
    rows = _ordinal(interactions["interaction_id"])
    seconds = _interaction_local_seconds(
        config,
        int_log["channel"][rows],
        int_log["direction"][rows],
        int_log["u_time"][rows],
        int_log["u_outside"][rows],
        int_log["lawful_hours"][rows],
    )
    int_wall = _expected_wall(config, int_log["day"][rows], seconds)

    for events, column, wall in ((payments, "paid_at", pay_wall), (interactions, "occurred_at", int_wall)):
        wall.index = events.index
        clock = local_clock(tables, events, column)
        zone = events["loan_id"].map(zone_of)
        in_gap = pd.Series(False, index=events.index)
        for name, group in wall.groupby(zone):
            in_gap[group.index] = (
                group.dt.tz_localize(name, ambiguous=True, nonexistent="NaT").isna().to_numpy()
            )
        pdt.assert_series_equal(clock[~in_gap], wall[~in_gap], check_names=False)
        gap_hour = wall[in_gap].dt.normalize() + pd.Timedelta(hours=3)
        pdt.assert_series_equal(clock[in_gap], gap_hour, check_names=False)
        # Evening events in the Americas carry the next UTC date.
        evening = clock.dt.hour >= 20
        assert evening.any()
        utc_date = events.loc[evening, column].dt.tz_localize(None).dt.normalize()
        assert (utc_date == clock[evening].dt.normalize() + pd.Timedelta(days=1)).all()


def _outside_hours(tables: dict[str, pd.DataFrame], events: pd.DataFrame) -> pd.Series:
    hour = local_clock(tables, events, "occurred_at").dt.hour
    return (hour < 8) | (hour >= 21)


def test_engine_queue_contacts_are_made_within_lawful_hours_but_history_keeps_its_messy_share(
    history,
) -> None:
    config = history.simulator.config

    def work_queues(days: int):
        sim = history.simulator.snapshot()
        policy = HistoricalPolicy(config, rng=np.random.default_rng(5))  # picks loans, as an engine would
        for _ in range(days):
            chosen = policy.select_contacts(sim)
            queue = pd.DataFrame(
                {
                    "loan_id": pd.Series(chosen.loan_index + 1).map("L{:07d}".format),
                    "recommended_channel": np.asarray(CHANNELS, dtype=object)[chosen.channel],
                    "within_capacity": True,
                    "exploration": False,
                    "rank": np.arange(1, len(chosen) + 1),
                }
            )
            todays, _, dropped = queue_contacts(queue, sim)
            assert dropped == 0 and todays.lawful_hours_mask().all()
            sim.step(todays)
        return observed_tables(sim)

    tables = work_queues(10)
    interactions = tables["interactions"]
    n_history = len(history.simulator.log.interactions()["day"])  # the forks logged the rest
    outbound = interactions["direction"] == "outbound"
    forward = _ordinal(interactions["interaction_id"]) >= n_history
    queued = interactions[outbound & forward]
    assert len(queued) > 200
    assert not _outside_hours(tables, queued).any()
    old_rule_book = interactions[outbound & ~forward]
    share = _outside_hours(tables, old_rule_book).mean()
    assert 0.15 < share < 0.25  # outside_hours_share = 0.2 of the old rule book's contacts

    pdt.assert_frame_equal(work_queues(10)["interactions"], interactions)  # deterministic for a seed


def test_contacts_carry_their_lawful_hours_flag_through_concat() -> None:
    lawful = Contacts.single_channel(np.array([1, 2]), CALL, lawful_hours=True)
    old = Contacts.single_channel(np.array([3]), SMS)
    both = Contacts.concat([lawful, old])
    np.testing.assert_array_equal(both.lawful_hours_mask(), [True, True, False])
    assert not Contacts.empty().lawful_hours_mask().any()
    assert Contacts(np.array([4, 5]), np.array([CALL, SMS], dtype=np.int8), True).lawful_hours_mask().all()
