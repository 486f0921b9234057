"""The month's results a collections manager reports (issue 29): pure functions over the book.

Month by month within a reporting window, on the lender's clock (a month starts at 00:00 of its
first day in ``KpiSettings.timezone``, as a night's cut-off does):

- amount recovered: every payment received in the month (sums exactly to the payments table
  over the window), and the part paid by loans overdue at the month's start as a share of the
  amount overdue then (``recovery_rate``);
- accounts overdue at the start that are current at the end (``cured``) and that are paid off
  (``resolved``: nothing left outstanding), from :func:`features.accounts.account_state` at
  the month's start and end;
- roll rates between days-past-due buckets, start -> end of month;
- promises made in the month and their fate as known at the window's end
  (:func:`features.promises.promise_ledger`);
- outbound contacts, right-party contacts (:data:`data_contracts.enums.RIGHT_PARTY_OUTCOMES`),
  contacts per payment;
- complaints: disputes raised and refusals (interaction outcomes), and dispute and
  cease-and-desist flags opened.

By team (the contact's channel x the borrower's region, named as the night names its teams:
:func:`scoring.teams.team_names`), by channel and by ``agent_id`` where present. Contact,
promise and complaint counts belong to the contact that made them. Money and cures are
attributed by last touch: a payment to the last outbound contact of its loan in the
``attribution_days`` before it, a cure or a pay-off to the loan's last outbound contact of the
month; what no contact touched is reported under ``not contacted``, so every dimension's
groups add up to the month's total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_contracts.cutoff import UTC, Cutoff
from data_contracts.enums import RIGHT_PARTY_OUTCOMES
from features.accounts import account_state
from features.promises import DEFAULT_GRACE_DAYS, promise_ledger
from scoring.teams import team_names

DPD_BUCKETS: tuple[str, ...] = ("current", "1-30", "31-60", "61-90", "90+")
DIMENSIONS: tuple[str, ...] = ("team", "channel", "agent_id")
NOT_CONTACTED = "not contacted"
# Outcomes a manager tracks as complaints.
COMPLAINT_OUTCOMES: tuple[str, ...] = ("dispute_raised", "refused")

MONTHLY_COLUMNS = [
    "month",
    "first_day",
    "last_day",
    "amount_recovered",
    "payments",
    "loans_paying",
    "loans_overdue_at_start",
    "amount_overdue_at_start",
    "recovered_from_overdue",
    "recovery_rate",
    "cured",
    "cure_rate",
    "resolved",
    "resolve_rate",
    "contacts",
    "right_party_contacts",
    "right_party_contact_rate",
    "contacts_per_payment",
    "promises_made",
    "promises_kept",
    "promises_broken",
    "promises_open",
    "promise_kept_rate",
    "disputes_raised",
    "refusals",
    "complaints",
    "dispute_flags_opened",
    "cease_requests",
]
GROUP_COLUMNS = [
    "month",
    "dimension",
    "group",
    "contacts",
    "right_party_contacts",
    "right_party_contact_rate",
    "promises_made",
    "promises_kept",
    "promises_broken",
    "promises_open",
    "promise_kept_rate",
    "disputes_raised",
    "refusals",
    "complaints",
    "payments",
    "amount_recovered",
    "contacts_per_payment",
    "cured",
    "resolved",
]
ROLL_RATE_COLUMNS = ["month", "from_bucket", "to_bucket", "loans", "share"]


@dataclass(frozen=True)
class KpiSettings:
    """How the report reads the book: the lender's clock (month boundaries), how teams are
    named (``split_by`` as ``teams.split_by``), the promise ledger's ``tolerance`` and
    ``grace_days``, and the last-touch window of a payment (``attribution_days``)."""

    timezone: str = UTC
    split_by: tuple[str, ...] = ("channel", "region")
    tolerance: float = 0.01
    grace_days: int = DEFAULT_GRACE_DAYS
    attribution_days: int = 30


@dataclass(frozen=True)
class Month:
    """One reporting month, clipped to the window: its days and its UTC instants [start, end)."""

    label: str
    first_day: dt.date
    last_day: dt.date
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True)
class KpiReport:
    """The KPIs of a window: ``monthly`` (one row per month, :data:`MONTHLY_COLUMNS`),
    ``by_group`` (month x dimension x group, :data:`GROUP_COLUMNS`), ``roll_rates``
    (:data:`ROLL_RATE_COLUMNS`), and ``totals`` over the whole window."""

    months: tuple[Month, ...]
    monthly: pd.DataFrame
    by_group: pd.DataFrame
    roll_rates: pd.DataFrame
    totals: dict[str, float | int | str | None] = field(default_factory=dict)

    @property
    def window_start(self) -> pd.Timestamp:
        return self.months[0].start

    @property
    def window_end(self) -> pd.Timestamp:
        return self.months[-1].end


def report_months(start: dt.date, end: dt.date, timezone: str = UTC) -> tuple[Month, ...]:
    """The calendar months of [start, end] (both days included), the first and last clipped to
    the window; each month's instants are 00:00 of its first day and of the day after its last
    day on the clock ``timezone``."""
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    months: list[Month] = []
    first = start
    while first <= end:
        next_month = (pd.Timestamp(first) + pd.offsets.MonthBegin(1)).date()
        last = min(next_month - dt.timedelta(days=1), end)
        months.append(
            Month(
                label=f"{first:%Y-%m}",
                first_day=first,
                last_day=last,
                start=Cutoff(first, timezone).instant,
                end=Cutoff(last + dt.timedelta(days=1), timezone).instant,
            )
        )
        first = last + dt.timedelta(days=1)
    return tuple(months)


def dpd_bucket(days_past_due: pd.Series) -> pd.Series:
    """Each loan's days-past-due bucket: current, 1-30, 31-60, 61-90, 90+."""
    bins = [-np.inf, 0, 30, 60, 90, np.inf]
    return pd.cut(days_past_due, bins=bins, labels=list(DPD_BUCKETS)).astype("str")


def contacts_with_groups(tables: Mapping[str, pd.DataFrame], split_by: tuple[str, ...]) -> pd.DataFrame:
    """Every interaction with the borrower's region, the loan's branch and its ``team`` (channel
    x region or branch, as the night names teams)."""
    interactions = tables["interactions"]
    loans = tables["loans"][["loan_id", "borrower_id", "branch_id"]]
    borrowers = tables["borrowers"][["borrower_id", "region"]]
    frame = interactions.merge(loans, on="loan_id", how="left").merge(borrowers, on="borrower_id", how="left")
    frame = frame.assign(recommended_channel=frame["channel"])
    frame["team"] = team_names(frame, split_by) if len(frame) else pd.Series(dtype="str")
    return frame.drop(columns=["recommended_channel"])


def compute_kpis(
    tables: Mapping[str, pd.DataFrame], start: dt.date, end: dt.date, settings: KpiSettings
) -> KpiReport:
    """The KPIs of every month of [start, end] (see the module docstring for the definitions)."""
    months = report_months(start, end, settings.timezone)
    payments = tables["payments"]
    contacts = contacts_with_groups(tables, settings.split_by)
    outbound = contacts[contacts["direction"] == "outbound"]
    ledger = _promises(tables, contacts, months, settings)
    payments_touched = _last_touch_payments(payments, outbound, settings.attribution_days)

    monthly_rows: list[dict[str, object]] = []
    group_frames: list[pd.DataFrame] = []
    roll_frames: list[pd.DataFrame] = []
    for month in months:
        in_month = _between(contacts, "occurred_at", month)
        out_month = in_month[in_month["direction"] == "outbound"]
        paid = _between(payments_touched, "paid_at", month)
        promises = _between(ledger, "occurred_at", month)
        state_start = account_state(
            tables["installments"], payments, Cutoff(month.first_day, settings.timezone)
        )
        state_end = account_state(
            tables["installments"],
            payments,
            Cutoff(month.last_day + dt.timedelta(days=1), settings.timezone),
        )
        loans = _loan_outcomes(tables["loans"], state_start, state_end, month, settings.tolerance)
        loans = _last_touch_loans(loans, out_month)
        monthly_rows.append(_monthly_row(month, paid, loans, in_month, out_month, promises, tables))
        group_frames.append(_by_group(month, paid, loans, in_month, out_month, promises))
        roll_frames.append(_roll_rates(month, loans))

    monthly = pd.DataFrame(monthly_rows, columns=MONTHLY_COLUMNS)
    by_group = pd.concat(group_frames, ignore_index=True)[GROUP_COLUMNS]
    roll_rates = pd.concat(roll_frames, ignore_index=True)[ROLL_RATE_COLUMNS]
    window_paid = payments[(payments["paid_at"] >= months[0].start) & (payments["paid_at"] < months[-1].end)]
    totals: dict[str, float | int | str | None] = {
        "window_start_utc": months[0].start.isoformat(),
        "window_end_utc": months[-1].end.isoformat(),
        "timezone": settings.timezone,
        "amount_recovered": float(window_paid["amount"].sum()),
        "payments": int(len(window_paid)),
        "contacts": int(monthly["contacts"].sum()),
        "right_party_contacts": int(monthly["right_party_contacts"].sum()),
        "promises_made": int(monthly["promises_made"].sum()),
        "promises_kept": int(monthly["promises_kept"].sum()),
        "cured": int(monthly["cured"].sum()),
        "resolved": int(monthly["resolved"].sum()),
        "complaints": int(monthly["complaints"].sum()),
    }
    return KpiReport(months=months, monthly=monthly, by_group=by_group, roll_rates=roll_rates, totals=totals)


def _between(frame: pd.DataFrame, column: str, month: Month) -> pd.DataFrame:
    return frame[(frame[column] >= month.start) & (frame[column] < month.end)]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def _promises(
    tables: Mapping[str, pd.DataFrame],
    contacts: pd.DataFrame,
    months: tuple[Month, ...],
    settings: KpiSettings,
) -> pd.DataFrame:
    """The ledger of every promise made in the window, as known at its end, with the promising
    contact's team, channel and agent."""
    window_end = months[-1].end
    lookback = int(np.ceil((window_end - months[0].start) / pd.Timedelta(days=1))) + 1
    ledger = promise_ledger(
        tables["interactions"],
        tables["payments"],
        window_end,
        tolerance=settings.tolerance,
        grace_days=settings.grace_days,
        lookback_days=lookback,
        timezone=settings.timezone,
    )
    who = contacts.loc[
        contacts["outcome"] == "promise_to_pay", ["loan_id", "occurred_at", "team", "channel", "agent_id"]
    ].drop_duplicates(["loan_id", "occurred_at"])
    return ledger.merge(who, on=["loan_id", "occurred_at"], how="left")


def _last_touch_payments(payments: pd.DataFrame, outbound: pd.DataFrame, days: int) -> pd.DataFrame:
    """Each payment with the team, channel and agent of its loan's last outbound contact in the
    ``days`` before it (``not contacted`` when none)."""
    touches = outbound[["loan_id", "occurred_at", "team", "channel", "agent_id"]].sort_values(
        "occurred_at", kind="stable"
    )
    ordered = payments.sort_values("paid_at", kind="stable")
    if ordered.empty or touches.empty:
        matched = ordered.assign(team=None, channel=None, agent_id=None)
    else:
        matched = pd.merge_asof(
            ordered,
            touches.astype({"occurred_at": ordered["paid_at"].dtype}),
            left_on="paid_at",
            right_on="occurred_at",
            by="loan_id",
            tolerance=pd.Timedelta(days=days),
            direction="backward",
        )
    return _fill_untouched(matched)


def _fill_untouched(frame: pd.DataFrame) -> pd.DataFrame:
    untouched = frame["team"].isna()
    return frame.assign(
        team=frame["team"].astype("object").where(~untouched, NOT_CONTACTED),
        channel=frame["channel"].astype("object").where(~untouched, NOT_CONTACTED),
        agent_id=frame["agent_id"].astype("object"),
    )


def _loan_outcomes(
    loans: pd.DataFrame, start: pd.DataFrame, end: pd.DataFrame, month: Month, tolerance: float
) -> pd.DataFrame:
    """Per loan on the book at the month's start (disbursed before it, something outstanding or
    overdue): buckets at start and end, overdue at start, cured, resolved."""
    disbursed = loans.loc[loans["disbursed_on"] < pd.Timestamp(month.first_day), "loan_id"]
    on_book = start[
        start.index.isin(disbursed)
        & ((start["outstanding_balance"] > tolerance) | (start["days_past_due"] > 0))
    ]
    after = end.reindex(on_book.index)
    overdue = on_book["days_past_due"] > 0
    frame = pd.DataFrame(
        {
            "from_bucket": dpd_bucket(on_book["days_past_due"]),
            "to_bucket": dpd_bucket(after["days_past_due"].fillna(0)),
            "overdue_at_start": overdue,
            "amount_overdue_at_start": on_book["amount_overdue"].where(overdue, 0.0),
            "cured": overdue & (after["days_past_due"].fillna(0) == 0),
            "resolved": overdue & (after["outstanding_balance"].fillna(0.0) <= tolerance),
        },
        index=on_book.index,
    )
    return frame.rename_axis("loan_id").reset_index()


def _last_touch_loans(loans: pd.DataFrame, outbound: pd.DataFrame) -> pd.DataFrame:
    """Each loan with its last outbound contact of the month (``not contacted`` when none)."""
    last = outbound.sort_values("occurred_at", kind="stable").drop_duplicates("loan_id", keep="last")[
        ["loan_id", "team", "channel", "agent_id"]
    ]
    return _fill_untouched(loans.merge(last, on="loan_id", how="left"))


def _monthly_row(
    month: Month,
    paid: pd.DataFrame,
    loans: pd.DataFrame,
    in_month: pd.DataFrame,
    out_month: pd.DataFrame,
    promises: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
) -> dict[str, object]:
    overdue_ids = loans.loc[loans["overdue_at_start"], "loan_id"]
    from_overdue = float(paid.loc[paid["loan_id"].isin(overdue_ids), "amount"].sum())
    overdue_amount = float(loans["amount_overdue_at_start"].sum())
    n_overdue = int(loans["overdue_at_start"].sum())
    rpc = int(out_month["outcome"].isin(RIGHT_PARTY_OUTCOMES).sum())
    status = promises["status"].value_counts()
    kept, broken = int(status.get("kept", 0)), int(status.get("broken", 0))
    disputes = int((in_month["outcome"] == "dispute_raised").sum())
    refusals = int((in_month["outcome"] == "refused").sum())
    flags = tables["account_flags"]
    opened = flags[
        (flags["starts_on"] >= pd.Timestamp(month.first_day))
        & (flags["starts_on"] <= pd.Timestamp(month.last_day))
    ]
    cured, resolved = int(loans["cured"].sum()), int(loans["resolved"].sum())
    return {
        "month": month.label,
        "first_day": month.first_day.isoformat(),
        "last_day": month.last_day.isoformat(),
        "amount_recovered": float(paid["amount"].sum()),
        "payments": int(len(paid)),
        "loans_paying": int(paid["loan_id"].nunique()),
        "loans_overdue_at_start": n_overdue,
        "amount_overdue_at_start": overdue_amount,
        "recovered_from_overdue": from_overdue,
        "recovery_rate": _ratio(from_overdue, overdue_amount),
        "cured": cured,
        "cure_rate": _ratio(cured, n_overdue),
        "resolved": resolved,
        "resolve_rate": _ratio(resolved, n_overdue),
        "contacts": int(len(out_month)),
        "right_party_contacts": rpc,
        "right_party_contact_rate": _ratio(rpc, len(out_month)),
        "contacts_per_payment": _ratio(len(out_month), len(paid)),
        "promises_made": int(len(promises)),
        "promises_kept": kept,
        "promises_broken": broken,
        "promises_open": int(status.get("open", 0)),
        "promise_kept_rate": _ratio(kept, kept + broken),
        "disputes_raised": disputes,
        "refusals": refusals,
        "complaints": disputes + refusals,
        "dispute_flags_opened": int((opened["flag"] == "dispute").sum()),
        "cease_requests": int((opened["flag"] == "cease_and_desist").sum()),
    }


def _by_group(
    month: Month,
    paid: pd.DataFrame,
    loans: pd.DataFrame,
    in_month: pd.DataFrame,
    out_month: pd.DataFrame,
    promises: pd.DataFrame,
) -> pd.DataFrame:
    """The month's KPIs per team, channel and agent (agents only where ``agent_id`` is known)."""
    frames = []
    for dimension in DIMENSIONS:
        counts = {
            "contacts": out_month.groupby(dimension).size(),
            "right_party_contacts": out_month[out_month["outcome"].isin(RIGHT_PARTY_OUTCOMES)]
            .groupby(dimension)
            .size(),
            "promises_made": promises.groupby(dimension).size(),
            "promises_kept": promises[promises["status"] == "kept"].groupby(dimension).size(),
            "promises_broken": promises[promises["status"] == "broken"].groupby(dimension).size(),
            "promises_open": promises[promises["status"] == "open"].groupby(dimension).size(),
            "disputes_raised": in_month[in_month["outcome"] == "dispute_raised"].groupby(dimension).size(),
            "refusals": in_month[in_month["outcome"] == "refused"].groupby(dimension).size(),
            "payments": paid.groupby(dimension).size(),
            "amount_recovered": paid.groupby(dimension)["amount"].sum(),
            "cured": loans[loans["cured"]].groupby(dimension).size(),
            "resolved": loans[loans["resolved"]].groupby(dimension).size(),
        }
        frame = pd.DataFrame(counts).fillna(0)
        if frame.empty:
            continue
        integer = [column for column in counts if column != "amount_recovered"]
        frame[integer] = frame[integer].astype("int64")
        frame["amount_recovered"] = frame["amount_recovered"].astype("float64")
        frame["complaints"] = frame["disputes_raised"] + frame["refusals"]
        frame["right_party_contact_rate"] = frame["right_party_contacts"] / frame["contacts"].replace(
            0, np.nan
        )
        decided = frame["promises_kept"] + frame["promises_broken"]
        frame["promise_kept_rate"] = frame["promises_kept"] / decided.replace(0, np.nan)
        frame["contacts_per_payment"] = frame["contacts"] / frame["payments"].replace(0, np.nan)
        frame = frame.rename_axis("group").reset_index()
        frame["group"] = frame["group"].astype("str")
        frames.append(frame.assign(month=month.label, dimension=dimension))
    if not frames:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    return pd.concat(frames, ignore_index=True)[GROUP_COLUMNS]


def _roll_rates(month: Month, loans: pd.DataFrame) -> pd.DataFrame:
    """Loans moving from each bucket at the month's start to each bucket at its end; ``share``
    of the start bucket's loans (every pair present, zeros included)."""
    pairs = pd.MultiIndex.from_product([DPD_BUCKETS, DPD_BUCKETS], names=["from_bucket", "to_bucket"])
    counts = loans.groupby(["from_bucket", "to_bucket"]).size().reindex(pairs, fill_value=0)
    frame = counts.rename("loans").reset_index()
    totals = frame.groupby("from_bucket")["loans"].transform("sum")
    frame["share"] = frame["loans"] / totals.replace(0, np.nan)
    frame["loans"] = frame["loans"].astype("int64")
    return frame.assign(month=month.label)


__all__ = [
    "COMPLAINT_OUTCOMES",
    "DIMENSIONS",
    "DPD_BUCKETS",
    "NOT_CONTACTED",
    "KpiReport",
    "KpiSettings",
    "Month",
    "compute_kpis",
    "contacts_with_groups",
    "dpd_bucket",
    "report_months",
]
