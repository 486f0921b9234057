"""A simulated month of queues that were actually worked: the nightly run inside the simulator.

The simulator runs the book's history to as-of under the lender's old rule book (exactly as
`recover simulate` does for the same settings, so models trained on that book fit it). From
as-of on the engine replaces the old rule book: on every ``every_days``-th night of the first
``queue_days`` the real nightly run (:func:`pipelines.nightly_score_flow.nightly_score_flow`:
validation, features, champion, contact policy, channel choice, capacity, publish, and the
queue history archive) scores the tables observed that night, the queue's within-capacity
rows are that day's outbound contacts in the simulator (one contact per loan, through the
recommended channel, at a local time inside 08:00-21:00: the engine recommends only lawful
windows and its dialer keeps them, unlike the old rule book whose history holds a few contacts
logged outside hours), and the simulator steps one day. Nights without a run carry no outbound
contact at all: the old rule book is retired for the whole period, so nothing but the engine's
queue contacts anybody and a control loan is left alone unless a later night's queue picks it.
At the end the observed tables (history strictly before the last day) are written to
``out/data``, where `recover backfill` reads them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.enums import CHANNELS
from evaluation.policies import simulator_offers
from recover.config import load_config
from simulation import Contacts, LoanBookSimulator, Offers, SimulationConfig, observed_tables, run_history
from simulation.book import loan_ids
from simulation.config import simulation_config

NIGHTS_CSV = "nights.csv"
CONTACTS_PARQUET = "contacts.parquet"
MONTH_JSON = "month.json"


@dataclass(frozen=True)
class SimulatedMonth:
    """Where the final tables are, one row per simulated day, every contact applied, and the
    simulator at the end (the day after the last simulated day)."""

    data_dir: Path
    start: dt.date
    end: dt.date
    nights: pd.DataFrame
    contacts: pd.DataFrame
    simulator: LoanBookSimulator


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """The six input tables as Parquet files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def queue_contacts(queue: pd.DataFrame, simulator: LoanBookSimulator) -> tuple[Contacts, pd.DataFrame, int]:
    """Tonight's contacts in the simulator: the queue's within-capacity rows through their
    recommended channel, made within 08:00-21:00 local (``lawful_hours``). Rows the simulator
    cannot carry out (a loan it does not know, no longer active or handed to the agency, a
    channel without the means) are dropped and counted, never forced."""
    work = queue[queue["within_capacity"]]
    index = pd.Index(loan_ids(simulator.population.n_loans))
    loan = index.get_indexer(work["loan_id"].astype("str"))
    code = work["recommended_channel"].map({c: i for i, c in enumerate(CHANNELS)}).to_numpy(dtype=np.int64)
    possible = loan >= 0
    possible[possible] &= simulator.active_mask()[loan[possible]] & ~simulator.referred()[loan[possible]]
    for channel in range(len(CHANNELS)):
        on = possible & (code == channel)
        possible[on] &= simulator.has_means(channel)[loan[on]]
    applied = work[possible]
    contacts = Contacts(loan[possible].astype(np.int64), code[possible].astype(np.int8), lawful_hours=True)
    frame = pd.DataFrame(
        {
            "loan_id": applied["loan_id"].astype("str").to_numpy(),
            "channel": applied["recommended_channel"].astype("str").to_numpy(),
            "exploration": applied["exploration"].to_numpy(dtype=bool),
            "rank": applied["rank"].to_numpy(dtype="int64"),
        }
    )
    return contacts, frame, int((~possible).sum())


def queue_treatments(
    queue: pd.DataFrame, treatments: pd.DataFrame | None, applied: pd.DataFrame, simulator: LoanBookSimulator
) -> tuple[Offers | None, np.ndarray | None]:
    """The night's offers on the contacts made (``applied``) and its referrals, in the
    simulator: the officer makes the offer the queue recommends on the contact; a referred loan
    goes to the agency (one the simulator already handed over, or no longer active, is skipped)."""
    if "treatment" not in queue:
        return None, None
    index = pd.Index(loan_ids(simulator.population.n_loans))
    made = queue.set_index("loan_id").loc[applied["loan_id"]]
    offers = simulator_offers(
        made[made["treatment"].isin(["payment_plan", "deferment", "settlement"])], index
    )
    if treatments is None:
        return offers, None
    referred = index.get_indexer(
        treatments.loc[treatments["treatment"] == "referral", "loan_id"].astype("str")
    )
    referred = referred[referred >= 0]
    referred = referred[simulator.active_mask()[referred] & ~simulator.referred()[referred]]
    return offers, referred.astype(np.int64)


def simulate_month(
    out: Path | str,
    *,
    days: int = 30,
    every_days: int = 1,
    queue_days: int | None = None,
    config_path: str | None = None,
    simulation: SimulationConfig | None = None,
    policy: str | None = None,
    on_night: Callable[[dict], None] | None = None,
) -> SimulatedMonth:
    """Simulate ``days`` days from the book's as-of with the engine's queues worked (see the
    module docstring); ``simulation`` defaults to the config's book. Models trained on that
    book's history before as-of must be the champions in MLflow (`recover train`). Writes
    ``out/data`` (the final tables), ``out/nights.csv``, ``out/contacts.parquet`` and
    ``out/month.json``; each night's queue goes to ``out/queue`` (overwritten, as in
    production) and into the queue history of the state folder. ``on_night`` receives each
    day's summary row (progress). A night whose run stops before publishing (drift beyond the
    fail threshold, a broken input contract) contacts nobody and says why in ``stopped``."""
    from monitoring.drift import DriftError
    from pipelines.common import InvalidInputError
    from pipelines.nightly_score_flow import nightly_score_flow

    if days < 1 or every_days < 1:
        raise ValueError("days and every_days must be at least 1")
    config = load_config(Path(config_path) if config_path else None)
    sim_config = simulation_config(simulation or config.simulation)
    queue_days = days if queue_days is None else min(queue_days, days)
    out = Path(out)
    night_data, queue_dir = out / "night-data", out / "queue"
    began = time.perf_counter()
    sim = run_history(sim_config).simulator
    start = pd.Timestamp(sim.date).date()
    nights, contacts = [], []
    for offset in range(days):
        date = pd.Timestamp(sim.date).date()
        row = {"date": date, "scored": False, "stopped": None, "queued": 0, "contacts": 0, "dropped": 0}
        todays, result = None, None
        night_began = time.perf_counter()
        if offset < queue_days and offset % every_days == 0:
            write_tables(observed_tables(sim), night_data)
            try:
                result = nightly_score_flow(str(night_data), date, str(queue_dir), config_path, None, policy)
            except (DriftError, InvalidInputError) as error:
                # The night published nothing, so nobody is contacted: as in production.
                result = None
                row.update(stopped=type(error).__name__)
        offers, referrals = None, None
        if result is not None:
            manifest = result["manifest"]
            todays, applied, dropped = queue_contacts(result["queue"], sim)
            offers, referrals = queue_treatments(result["queue"], result.get("treatments"), applied, sim)
            contacts.append(applied.assign(date=date, run_id=manifest.run_id))
            row.update(
                scored=True,
                run_id=manifest.run_id,
                overdue=manifest.counts.overdue,
                queued=int(len(result["queue"])),
                contacts=int(len(todays)),
                exploration=int(applied["exploration"].sum()),
                control=manifest.decisions.control,
                dropped=dropped,
            )
        overdue = sim.overdue_mask().copy()
        events = sim.step(todays, offers=offers, referrals=referrals)
        paid = events.payments
        row["collected"] = float(paid["amount_cents"].sum()) / 100.0
        row["collected_from_overdue"] = float(paid["amount_cents"][overdue[paid["loan_index"]]].sum()) / 100.0
        row["seconds"] = round(time.perf_counter() - night_began, 1)
        nights.append(row)
        if on_night is not None:
            on_night(row)
    end = pd.Timestamp(sim.date).date()
    data_dir = out / "data"
    write_tables(observed_tables(sim), data_dir)
    nights_frame = pd.DataFrame(nights)
    contacts_frame = (
        pd.concat(contacts, ignore_index=True)
        if contacts
        else pd.DataFrame(columns=["loan_id", "channel", "exploration", "rank", "date", "run_id"])
    )
    nights_frame.to_csv(out / NIGHTS_CSV, index=False)
    contacts_frame.to_parquet(out / CONTACTS_PARQUET, index=False)
    facts = {
        "simulation": sim_config.model_dump(mode="json"),
        "start": str(start),
        "end": str(end),
        "days": days,
        "every_days": every_days,
        "queue_days": queue_days,
        "nights_scored": int(nights_frame["scored"].sum()),
        "contacts": int(nights_frame["contacts"].sum()),
        "dropped_contacts": int(nights_frame["dropped"].sum()),
        "collected": float(nights_frame["collected"].sum()),
        "seconds": round(time.perf_counter() - began, 1),
        "backfill": f"recover backfill --as-of {end} --data {data_dir}",
    }
    (out / MONTH_JSON).write_text(json.dumps(facts, indent=2, default=str))
    return SimulatedMonth(
        data_dir=data_dir, start=start, end=end, nights=nights_frame, contacts=contacts_frame, simulator=sim
    )
