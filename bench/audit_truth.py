"""The compliance audit against the simulator's truth: per-rule recall and precision of the planted
breaches, and an independent re-check of every breach the audit finds beyond them.

The simulator plants a logged share of unlawful contacts (``truth/planted_breaches.parquet``), but
its legacy contact policy also breaks some rules on its own (a few calls out of hours, calls five
days after a conversation, house cadence ignored). Those breaches are in no truth file, so each
one the audit flags outside the planted set is checked here by a second, deliberately naive
implementation of the rule: a flagged contact the re-check cannot confirm would be invented.

    python bench/audit_truth.py --book demo-output/data --audit REPORT_DIR --from 2026-03-01 --to 2026-05-31

(``REPORT_DIR`` is the ``--out`` of ``recover report`` over the same window.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from data_contracts.enums import RIGHT_PARTY_OUTCOMES

MESSAGES = ["sms", "email", "whatsapp"]


def _contacts(book: Path) -> pd.DataFrame:
    interactions = pd.read_parquet(book / "interactions.parquet")
    loans = pd.read_parquet(book / "loans.parquet", columns=["loan_id", "borrower_id"])
    borrowers = pd.read_parquet(book / "borrowers.parquet", columns=["borrower_id", "timezone"])
    out = interactions.merge(loans, on="loan_id").merge(borrowers, on="borrower_id")
    local = [ts.tz_convert(zone) for ts, zone in zip(out["occurred_at"], out["timezone"], strict=True)]
    out["local_hour"] = [ts.hour for ts in local]
    out["day"] = pd.to_datetime([ts.date() for ts in local])
    return out


def _earlier(flagged: pd.DataFrame, prior: pd.DataFrame, key: str, days: int) -> set[str]:
    """Flagged contacts with a ``prior`` event of the same ``key`` fewer than ``days`` local days
    before (same day included, earlier in time)."""
    pairs = flagged.merge(prior[[key, "interaction_id", "occurred_at", "day"]], on=key, suffixes=("", "_p"))
    earlier = (pairs["occurred_at_p"] < pairs["occurred_at"]) | (
        (pairs["occurred_at_p"] == pairs["occurred_at"])
        & (pairs["interaction_id_p"] < pairs["interaction_id"])
    )
    pairs = pairs[earlier & ((pairs["day"] - pairs["day_p"]).dt.days < days)]
    return set(pairs["interaction_id"])


def _open_flag(flagged: pd.DataFrame, flags: pd.DataFrame, flag: str, key: str) -> set[str]:
    held = flagged.merge(flags[flags["flag"] == flag][[key, "starts_on", "ends_on"]], on=key)
    held = held[
        (held["starts_on"] < held["day"]) & (held["ends_on"].isna() | (held["ends_on"] >= held["day"]))
    ]
    return set(held["interaction_id"])


def recheck(rule: str, flagged: pd.DataFrame, contacts: pd.DataFrame, flags: pd.DataFrame) -> set[str] | None:
    """The flagged contacts a naive re-implementation of ``rule`` confirms (None: no re-check)."""
    outbound = contacts[contacts["direction"] == "outbound"]
    if rule == "convenient_hours":
        return set(flagged.loc[(flagged["local_hour"] < 8) | (flagged["local_hour"] >= 21), "interaction_id"])
    if rule == "call_after_conversation":
        talks = contacts[(contacts["channel"] == "call") & contacts["outcome"].isin(RIGHT_PARTY_OUTCOMES)]
        return _earlier(flagged, talks, "borrower_id", 7)
    if rule == "one_message_in_3_days":
        return _earlier(flagged, outbound[outbound["channel"].isin(MESSAGES)], "loan_id", 3)
    if rule == "one_contact_a_day":
        return _earlier(flagged, outbound, "loan_id", 1)
    if rule == "channel_opt_out":
        opted = contacts[contacts["outcome"] == "opted_out"]
        pairs = flagged.merge(opted[["borrower_id", "channel", "occurred_at"]], on=["borrower_id", "channel"])
        return set(pairs.loc[pairs["occurred_at_y"] < pairs["occurred_at_x"], "interaction_id"])
    if rule == "hardship_forbearance":
        return _open_flag(flagged, flags, "hardship_plan", "loan_id")
    if rule == "vulnerable_customer":
        return _open_flag(flagged, flags, "vulnerable", "borrower_id")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, required=True, help="the simulated book's folder")
    parser.add_argument("--audit", type=Path, required=True, help="the recover report output folder")
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--to", dest="end", required=True)
    args = parser.parse_args()

    contacts = _contacts(args.book)
    flags = pd.read_parquet(args.book / "account_flags.parquet").merge(
        pd.read_parquet(args.book / "loans.parquet", columns=["loan_id", "borrower_id"]), on="loan_id"
    )
    breaches = pd.read_parquet(args.audit / "compliance_audit.parquet")
    planted = pd.read_parquet(args.book / "truth" / "planted_breaches.parquet").merge(
        contacts[["interaction_id", "day"]], on="interaction_id"
    )
    planted = planted[planted["day"].between(pd.Timestamp(args.start), pd.Timestamp(args.end))]
    planted_ids = set(planted["interaction_id"])
    rows = []
    for rule in sorted(set(planted["rule_id"]) | set(breaches["rule_id"])):
        truth = set(planted.loc[planted["rule_id"] == rule, "interaction_id"])
        found = set(breaches.loc[breaches["rule_id"] == rule, "interaction_id"])
        on_planted = found & planted_ids
        beyond = contacts[contacts["interaction_id"].isin(found - planted_ids)]
        confirmed = recheck(rule, beyond, contacts, flags)
        rows.append(
            {
                "rule": rule,
                "planted": len(truth),
                "recall": len(truth & found) / len(truth) if truth else float("nan"),
                "precision_on_planted": len(truth & found) / len(on_planted) if on_planted else float("nan"),
                "flagged_beyond_planted": len(beyond),
                "confirmed_by_recheck": "n/a" if confirmed is None else len(confirmed),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
