"""The officer's work list: one row per contact, with who to ask for and how to reach them.

The queue (queue.parquet) has one row per loan and carries no contact point. This module is the
only place the optional ``contact_points`` table and the borrowers' ``display_name`` meet the
night's decisions: :func:`contact_worklist` joins them into the officer-facing contact rows the
team files, the workbook and the database contacts table carry. Contact points are personal
data: nothing else (features, explanations, the review, MLflow, logs, queue.parquet) reads them.

Pure functions on frames.
"""

from __future__ import annotations

import pandas as pd

from data_contracts.columnar import join_per_group
from data_contracts.outputs import CONTACT_COLUMNS, Contacts

# The kinds of contact point each channel uses, in order of preference.
CHANNEL_POINT_KINDS: dict[str, tuple[str, ...]] = {
    "call": ("phone",),
    "sms": ("phone",),
    "whatsapp": ("messaging", "phone"),
    "email": ("email",),
    "letter": ("address",),
    "field_visit": ("address",),
}


def primary_points(contact_points: pd.DataFrame | None) -> pd.Series:
    """Per (borrower_id, kind), the point to use: the primary one, else the most recently
    verified, else the first delivered."""
    if contact_points is None or contact_points.empty:
        return pd.Series(
            dtype="str", index=pd.MultiIndex.from_arrays([[], []], names=["borrower_id", "kind"])
        )
    points = contact_points.assign(
        _primary=contact_points["is_primary"].fillna(False).astype(bool),
        _verified=pd.to_datetime(contact_points["verified_on"]),
        _order=range(len(contact_points)),
    )
    points = points.sort_values(
        ["borrower_id", "kind", "_primary", "_verified", "_order"],
        ascending=[True, True, False, False, True],
        na_position="last",
        kind="stable",
    ).drop_duplicates(["borrower_id", "kind"])
    keys = pd.MultiIndex.from_arrays(
        [points["borrower_id"].astype("str"), points["kind"].astype("str")], names=["borrower_id", "kind"]
    )
    return pd.Series(points["value"].astype("str").to_numpy(), index=keys, dtype="str")


def contact_point_for(borrower_id: pd.Series, channel: pd.Series, points: pd.Series) -> pd.Series:
    """The point of each (borrower, channel): the first kind of :data:`CHANNEL_POINT_KINDS` the
    borrower has (null when none)."""
    out = pd.Series(None, index=borrower_id.index, dtype="str")
    for channel_name, kinds in CHANNEL_POINT_KINDS.items():
        rows = (channel.astype("str") == channel_name).to_numpy()
        for kind in kinds:
            missing = rows & out.isna().to_numpy()
            if not missing.any():
                break
            keys = pd.MultiIndex.from_arrays(
                [borrower_id[missing].astype("str").to_numpy(), [kind] * int(missing.sum())]
            )
            out[missing] = points.reindex(keys).to_numpy()
    return out


def contact_worklist(
    queue: pd.DataFrame,
    contact_points: pd.DataFrame | None = None,
    borrowers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per contact of the ranked ``queue`` (one row per loan, with ``contact_id`` and
    ``contact_loans``): the contact's best rank, its team and rank in the team, the channel,
    the borrower's ``display_name`` (from ``borrowers``, when it has one) and the primary
    ``contact_point`` for the channel (from ``contact_points``; null when the book has none),
    the loans and their totals, the lead loan's ``priority_reason`` (when the queue has one),
    the contact's window, the last contact, the next due date, the open promise, and whether
    the contact is an exploration pick or within capacity. Checked against :class:`Contacts`."""
    if queue.empty:
        return Contacts.validate(_empty(), lazy=True)
    rows = queue.sort_values("rank", kind="stable").copy()
    day = pd.to_datetime(rows["as_of"]).dt.strftime("%Y%m%d")
    fallback = day + "-" + rows["borrower_id"].astype("str")
    rows["contact_id"] = (
        rows["contact_id"].astype("str").fillna(fallback) if "contact_id" in rows else fallback
    )
    if "contact_loans" not in rows:
        rows["contact_loans"] = None
    lead_id = rows["contact_loans"].astype("str").str.split("; ").str[0]
    rows["_lead"] = (lead_id == rows["loan_id"].astype("str")).fillna(False).to_numpy()
    grouped = rows.groupby("contact_id", sort=False)
    first = rows.drop_duplicates("contact_id")  # its best-ranked loan
    # The lead loan's row where the queue names it, else the best-ranked one.
    lead = rows[rows["_lead"]].drop_duplicates("contact_id").set_index("contact_id")
    lead = lead.reindex(first["contact_id"]).combine_first(first.set_index("contact_id"))
    out = pd.DataFrame(
        {
            "as_of": first["as_of"].to_numpy(),
            "run_id": first["run_id"].astype("str").to_numpy(),
            "contact_id": first["contact_id"].to_numpy(),
            "team": first["team"].astype("str").to_numpy(),
            "rank": first["rank"].astype("int64").to_numpy(),
            "recommended_channel": lead["recommended_channel"].astype("str").to_numpy(),
            "borrower_id": first["borrower_id"].astype("str").to_numpy(),
        }
    )
    contact = out["contact_id"]
    out["team_rank"] = out.groupby("team", sort=False).cumcount().astype("int64") + 1
    names = _display_names(borrowers)
    out["display_name"] = out["borrower_id"].map(names).astype("str")
    out["contact_point"] = contact_point_for(
        out["borrower_id"], out["recommended_channel"], primary_points(contact_points)
    )
    out["preferred_language"] = _of_lead(lead, "preferred_language", contact).astype("str")
    loan_text = rows["loan_id"]
    if not (isinstance(loan_text.dtype, pd.StringDtype) and not loan_text.hasnans):
        loan_text = loan_text.map(str)  # as the join's map(str) did; text is already its own str()
    loans = join_per_group(loan_text.groupby(rows["contact_id"], sort=False), "; ")
    out["loan_ids"] = contact.map(loans).astype("str")
    listed = lead["contact_loans"].astype("str").reindex(contact.to_numpy()).to_numpy()
    out["loan_ids"] = pd.Series(listed, index=out.index, dtype="str").fillna(out["loan_ids"])
    out["n_loans"] = contact.map(grouped.size()).astype("int64")
    out["amount_overdue"] = contact.map(grouped["amount_overdue"].sum()).astype("float64")
    out["incremental_value"] = contact.map(grouped["incremental_value"].sum(min_count=1)).astype("float64")
    out["priority_reason"] = _of_lead(lead, "priority_reason", contact).astype("str")
    for column in ("contact_from_local", "contact_until_local", "timezone"):
        out[column] = _of_lead(lead, column, contact).astype("str")
    for column in ("contact_from_utc", "contact_until_utc"):
        out[column] = _of_lead(lead, column, contact).astype("datetime64[ns, UTC]")
    out["last_contact_at"] = _of_lead(lead, "last_contact_at", contact).astype("datetime64[ns, UTC]")
    out["last_contact_channel"] = _of_lead(lead, "last_contact_channel", contact).astype("str")
    out["last_contact_outcome"] = _of_lead(lead, "last_contact_outcome", contact).astype("str")
    out["next_due_date"] = contact.map(_earliest(rows, "next_due_date")).astype("datetime64[ns]")
    out["open_promise_amount"] = _of_lead(lead, "open_promise_amount", contact).astype("float64")
    out["open_promise_date"] = _of_lead(lead, "open_promise_date", contact).astype("datetime64[ns]")
    out["exploration"] = contact.map(grouped["exploration"].any()).astype(bool)
    out["within_capacity"] = contact.map(grouped["within_capacity"].any()).astype(bool)
    out["offer"] = contact.map(_offers(rows)).astype("str")
    out["as_of"] = pd.to_datetime(out["as_of"])
    return Contacts.validate(out[CONTACT_COLUMNS], lazy=True)


def offer_text(rows: pd.DataFrame) -> pd.Series:
    """What to offer on each queued loan, in a few words ("plan 6 x 183.33"); null for a plain
    contact (or a queue without treatments)."""
    treatment = rows["treatment"] if "treatment" in rows else pd.Series(None, index=rows.index, dtype="str")
    text = pd.Series(None, index=rows.index, dtype="str")
    plan, defer, settle = treatment == "payment_plan", treatment == "deferment", treatment == "settlement"
    if plan.any():
        text[plan] = [
            f"plan {int(n)} x {amount:,.2f}"
            for n, amount in zip(
                rows.loc[plan, "offer_n_instalments"], rows.loc[plan, "offer_instalment"], strict=True
            )
        ]
    if defer.any():
        text[defer] = [f"payment holiday {int(days)} days" for days in rows.loc[defer, "offer_holiday_days"]]
    if settle.any():
        text[settle] = [
            f"settle for {amount:,.2f} ({discount:.0%} off)"
            for amount, discount in zip(
                rows.loc[settle, "offer_amount_to_accept"], rows.loc[settle, "offer_discount"], strict=True
            )
        ]
    return text


def _offers(rows: pd.DataFrame) -> pd.Series:
    """Per contact: "<loan>: <offer>" for each of its loans with an offer, joined by "; "."""
    text = offer_text(rows)
    offered = rows.assign(_offer=rows["loan_id"].astype("str") + ": " + text)[text.notna()]
    return join_per_group(offered.groupby("contact_id", sort=False)["_offer"], "; ")


def team_contacts(worklist: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The work list cut into one frame per team (the team files), each in rank order."""
    return {str(team): rows.reset_index(drop=True) for team, rows in worklist.groupby("team", sort=True)}


def _of_lead(lead: pd.DataFrame, column: str, contact: pd.Series) -> pd.Series:
    """The lead loan's ``column`` for each contact (null when the queue lacks the column)."""
    if column not in lead:
        return pd.Series(None, index=contact.index, dtype="object")
    return pd.Series(lead[column].reindex(contact.to_numpy()).array, index=contact.index)


def _earliest(rows: pd.DataFrame, column: str) -> pd.Series:
    if column not in rows:
        return pd.Series(dtype="datetime64[ns]")
    return rows.groupby("contact_id", sort=False)[column].min()


def _display_names(borrowers: pd.DataFrame | None) -> pd.Series:
    """display_name by borrower_id (empty when the book gives no names)."""
    if borrowers is None or "display_name" not in borrowers:
        return pd.Series(dtype="str")
    return pd.Series(
        borrowers["display_name"].astype("str").to_numpy(), index=borrowers["borrower_id"].astype("str")
    )


def _empty() -> pd.DataFrame:
    dtypes = {
        "as_of": "datetime64[ns]",
        "rank": "int64",
        "team_rank": "int64",
        "n_loans": "int64",
        "amount_overdue": "float64",
        "incremental_value": "float64",
        "open_promise_amount": "float64",
        "last_contact_at": "datetime64[ns, UTC]",
        "contact_from_utc": "datetime64[ns, UTC]",
        "contact_until_utc": "datetime64[ns, UTC]",
        "next_due_date": "datetime64[ns]",
        "open_promise_date": "datetime64[ns]",
        "exploration": "bool",
        "within_capacity": "bool",
    }
    return pd.DataFrame({column: pd.Series(dtype=dtypes.get(column, "str")) for column in CONTACT_COLUMNS})


__all__ = ["CHANNEL_POINT_KINDS", "contact_point_for", "contact_worklist", "primary_points", "team_contacts"]
