"""Apply the run's rule packs (one default, optionally one per region) to the overdue loans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from data_contracts.enums import CHANNELS
from features.point_in_time import AsOf
from scoring.frames import member_of
from scoring.policy.packs import BorrowerHold, FlagHold, RulePack
from scoring.policy.windows import contact_history, contact_windows, evaluate_blocks, policy_accounts

RULE_TABLE_COLUMNS = [
    "policy",
    "policy_version",
    "rule_id",
    "kind",
    "flag",
    "reason",
    "account_level",
    "forbearance",
    "description",
    "source",
]


@dataclass(frozen=True)
class PolicyResult:
    """The contact rules' verdict on a set of loans for one work day.

    accounts: one row per loan (see windows.ACCOUNT_COLUMNS) plus its ``policy``.
    blocks: one row per (loan, channel, rule) in force on the work day, with ``policy``.
    windows: one row per (loan, channel): lawful today, next lawful window (see windows.py).
    rules: one row per rule of every pack applied (see RULE_TABLE_COLUMNS).
    flags: the account-flag rows in force on the work day.
    """

    accounts: pd.DataFrame
    blocks: pd.DataFrame
    windows: pd.DataFrame
    rules: pd.DataFrame
    flags: pd.DataFrame

    @property
    def packs(self) -> dict[str, str]:
        """Pack name -> version, of the packs that judged at least one loan."""
        used = self.rules.drop_duplicates("policy")
        return dict(zip(used["policy"], used["policy_version"], strict=True))


# The engine's own safety rule, in force under every pack: a hold it cannot read still holds.
UNREADABLE_HOLD_RULE = {
    "rule_id": "unreadable_hold_row",
    "kind": "safety",
    "flag": None,
    "reason": "hold_row_quarantined",
    "account_level": True,
    "forbearance": False,
    "description": "A flag or opt-out row for this loan was quarantined (see quarantine/); the loan is "
    "held until the row is fixed, because the hold it may carry cannot be read.",
    "source": "engine safety rule",
}


def unreadable_hold_loans(quarantined_rows: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Loan ids named by quarantined rows that may carry a hold: any account_flags row, and
    interactions rows whose outcome reads ``opted_out`` (rows as delivered, so text)."""
    pieces = []
    flags = quarantined_rows.get("account_flags")
    if flags is not None and "loan_id" in flags:
        pieces.append(flags["loan_id"])
    events = quarantined_rows.get("interactions")
    if events is not None and {"loan_id", "outcome"} <= set(events.columns):
        pieces.append(events.loc[events["outcome"].astype("str").str.strip() == "opted_out", "loan_id"])
    ids = pd.concat(pieces, ignore_index=True) if pieces else pd.Series(dtype="str")
    return ids.dropna().astype("str").str.strip().drop_duplicates().reset_index(drop=True)


def rule_table(pack: RulePack) -> pd.DataFrame:
    """The pack's rules as rows: which hold the whole account, which route to forbearance."""
    rows = []
    for rule in pack.rules:
        holds_all = isinstance(rule, FlagHold | BorrowerHold) and set(rule.channels) == set(CHANNELS)
        rows.append(
            {
                "policy": pack.name,
                "policy_version": pack.version,
                "rule_id": rule.id,
                "kind": rule.kind,
                "flag": getattr(rule, "flag", None),
                "reason": rule.reason,
                "account_level": holds_all,
                "forbearance": getattr(rule, "route", "none") == "forbearance",
                "description": rule.description,
                "source": rule.source,
            }
        )
    rows.append({"policy": pack.name, "policy_version": pack.version, **UNREADABLE_HOLD_RULE})
    return pd.DataFrame(rows, columns=RULE_TABLE_COLUMNS)


def assign_packs(accounts: pd.DataFrame, default: str, by_region: Mapping[str, str]) -> pd.Series:
    """The pack name that judges each loan: its region's override, else the run's default."""
    chosen = accounts["region"].map(dict(by_region)).astype("object")
    return chosen.where(chosen.notna(), default).astype("str")


def apply_contact_policy(
    loan_ids: pd.Series,
    tables: Mapping[str, pd.DataFrame],
    as_of: AsOf,
    packs: Mapping[str, RulePack],
    default: str,
    by_region: Mapping[str, str] | None = None,
    unreadable_holds: pd.Series | None = None,
) -> PolicyResult:
    """Judge every loan in ``loan_ids`` under its pack: blocks, lawful windows and rules used.

    ``unreadable_holds`` (see :func:`unreadable_hold_loans`) are held on every channel by the
    engine's safety rule, whatever the pack.
    """
    accounts = policy_accounts(loan_ids, tables)
    unreadable = pd.Series(dtype="str") if unreadable_holds is None else unreadable_holds
    accounts["policy"] = assign_packs(accounts, default, by_region or {})
    missing = sorted(set(accounts["policy"]) - set(packs))
    if missing:
        raise ValueError(f"no rule pack loaded for {missing}; loaded: {sorted(packs)}")
    blocks, windows, rules, flags = [], [], [], []
    for name in sorted(set(accounts["policy"])) or [default]:
        pack = packs[name]
        subset = accounts[accounts["policy"] == name].drop(columns="policy")
        history = contact_history(subset, tables, as_of, pack)
        pack_blocks = evaluate_blocks(pack, history)
        held = subset.loc[member_of(subset["loan_id"], unreadable), "loan_id"]
        safety = held.to_frame().merge(pd.DataFrame({"channel": list(CHANNELS)}), how="cross")
        safety = safety.assign(
            rule_id=UNREADABLE_HOLD_RULE["rule_id"],
            reason=UNREADABLE_HOLD_RULE["reason"],
            blocked_through=pd.Series(pd.NaT, index=safety.index, dtype="datetime64[ns]"),
        )
        if len(safety):
            pack_blocks = pd.concat([pack_blocks, safety[pack_blocks.columns]], ignore_index=True)
        blocks.append(pack_blocks.assign(policy=pack.name))
        windows.append(contact_windows(pack, history, pack_blocks))
        rules.append(rule_table(pack))
        flags.append(history.flags)
    return PolicyResult(
        accounts=accounts.reset_index(drop=True),
        blocks=pd.concat(blocks, ignore_index=True),
        windows=pd.concat(windows, ignore_index=True),
        rules=pd.concat(rules, ignore_index=True),
        flags=pd.concat(flags, ignore_index=True),
    )
