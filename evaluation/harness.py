"""Run contact policies forward in the simulator from the same day with the same borrower luck.

Each policy gets its own copy of the simulator at the start day (common random numbers: every
borrower decision reads the same uniform under every policy), so differences in money come from
the contacts alone. Money counts payments of loans while or after they were overdue in the
window: scheduled payments of loans that never fell behind are not collections.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_contracts.enums import CHANNELS
from models.uplift import uplift_report
from simulation import LoanBookSimulator
from simulation.book import loan_ids


@dataclass(frozen=True)
class PolicyOutcome:
    """One policy's forward run: a row per day and the totals."""

    name: str
    daily: pd.DataFrame
    totals: dict[str, float]
    final: LoanBookSimulator | None = None


def run_policy(
    start: LoanBookSimulator,
    policy,
    horizon_days: int,
    channel_cost: Mapping[str, float],
    *,
    keep_final: bool = False,
) -> PolicyOutcome:
    """Step a copy of ``start`` for ``horizon_days`` under ``policy``; measure money and contacts
    (``keep_final`` keeps the simulator at the end, e.g. to label randomised units)."""
    sim = start.snapshot()
    began = time.perf_counter()
    overdue_at_start = sim.overdue_mask().copy()
    ever_overdue = overdue_at_start.copy()
    cost_by_code = np.array([channel_cost[c] for c in CHANNELS])
    rows = []
    for _ in range(horizon_days):
        ever_overdue |= sim.overdue_mask()
        contacts = policy.select_contacts(sim) if policy is not None else None
        day, date = sim.day, pd.Timestamp(sim.date).date()
        events = sim.step(contacts)
        paid = events.payments
        collected = paid["amount_cents"][ever_overdue[paid["loan_index"]]].sum() / 100.0
        codes = contacts.channel if contacts is not None else np.empty(0, dtype=np.int8)
        per_channel = np.bincount(codes, minlength=len(CHANNELS))
        rows.append(
            {
                "day": day,
                "date": date,
                "recovered": float(collected),
                "contacts": int(len(codes)),
                "contact_cost": float(cost_by_code[codes].sum()),
                **{f"contacts_{channel}": int(per_channel[i]) for i, channel in enumerate(CHANNELS)},
            }
        )
    daily = pd.DataFrame(rows).assign(policy=getattr(policy, "name", "no_contact"))
    cured = overdue_at_start & ~sim.overdue_mask()
    totals = {
        "recovered": float(daily["recovered"].sum()),
        "contact_cost": float(daily["contact_cost"].sum()),
        "contacts": float(daily["contacts"].sum()),
        "cures": float(cured.sum()),
        "cease_requests": float((sim.borrower_state.cease_and_desist_day >= start.day).sum()),
        "seconds": time.perf_counter() - began,
        **{f"contacts_{c}": float(daily[f"contacts_{c}"].sum()) for c in CHANNELS},
    }
    totals["net_recovery"] = totals["recovered"] - totals["contact_cost"]
    return PolicyOutcome(
        name=getattr(policy, "name", "no_contact"),
        daily=daily,
        totals=totals,
        final=sim if keep_final else None,
    )


def results_table(
    outcomes: Sequence[PolicyOutcome], *, baseline: str = "random", oracle: str = "oracle"
) -> pd.DataFrame:
    """One row per policy: money, cost, net, contacts, cures; net gain over ``baseline`` and the
    share of the oracle's gain over ``baseline`` each policy reaches."""
    table = pd.DataFrame([{"policy": o.name, **o.totals} for o in outcomes]).set_index("policy")
    if baseline in table.index:
        table["gain_over_random"] = table["net_recovery"] - table.at[baseline, "net_recovery"]
        if oracle in table.index and table.at[oracle, "gain_over_random"] > 0:
            table["share_of_oracle_gain"] = table["gain_over_random"] / table.at[oracle, "gain_over_random"]
    return table


def label_randomised(units: pd.DataFrame, sim: LoanBookSimulator, window_days: int) -> pd.DataFrame:
    """Outcome of each randomised unit: a qualifying payment within ``window_days`` of its day.

    Units whose window runs past the simulator's current day are dropped (not yet observable).
    """
    if units.empty:
        return units.assign(label=pd.Series(dtype="int64"))
    units = units[units["day"] + window_days <= sim.day].reset_index(drop=True)
    log = sim.log.payments()
    payments = pd.DataFrame(
        {"loan_index": log["loan_index"], "day": log["day"], "amount": log["amount_cents"] / 100.0}
    )
    index = pd.Index(loan_ids(sim.population.n_loans))
    keyed = units.assign(loan_index=index.get_indexer(units["loan_id"]), unit=np.arange(len(units)))
    joined = keyed[["unit", "loan_index", "day"]].merge(payments, on="loan_index", suffixes=("", "_paid"))
    in_window = (joined["day_paid"] >= joined["day"]) & (joined["day_paid"] < joined["day"] + window_days)
    paid = joined[in_window].groupby("unit")["amount"].sum().reindex(keyed["unit"]).fillna(0.0).to_numpy()
    return units.assign(label=(paid >= units["qualifying_amount"].to_numpy() - 0.01).astype("int64"))


def randomised_uplift_report(units: pd.DataFrame) -> dict[str, float]:
    """Qini coefficient and uplift at k of the predicted uplift on labelled randomised units."""
    if units.empty or units["treated"].all() or not units["treated"].any():
        return {"rows": float(len(units))}
    return uplift_report(units["label"], units["treated"], units["predicted_uplift"])


def daily_frame(outcomes: Sequence[PolicyOutcome]) -> pd.DataFrame:
    """All policies' daily rows, long format."""
    return pd.concat([o.daily for o in outcomes], ignore_index=True)


def plot_recovered_per_day(daily: pd.DataFrame, path) -> None:
    """Line chart of the money recovered per day by each policy (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for policy, rows in daily.groupby("policy", sort=False):
        ax.plot(
            pd.to_datetime(rows["date"]), rows["recovered"].rolling(7, min_periods=1).mean(), label=policy
        )
    ax.set_title("Recovered per day (7-day rolling mean), same borrowers and luck under each policy")
    ax.set_ylabel("recovered per day")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
