"""Planted compliance breaches: a small, logged share of unlawful historical contacts.

The compliance audit (``monitoring.audit``) is checked against them: each planted contact is an
extra outbound interaction row, added after the simulation (it has no effect on the borrower
and draws from its own random stream, so the rest of the book does not move), placed where it
breaks exactly the rules logged for it in ``truth/planted_breaches.parquet``. Rule ids are
those of the default US pack (us_reg_f) and the default config's contact cadence:

* ``convenient_hours``: a call at 22:00-23:00 local time;
* ``cease_and_desist``, ``open_dispute``, ``bankruptcy``: a call while the flag is in force
  (a local day after the flag's first day);
* ``do_not_contact``: a call to a do-not-contact borrower;
* ``message_consent``: a text to a borrower with a phone but without consent to texts;
* ``channel_opt_out``: a message on a channel the borrower opted out of;
* ``call_frequency_7_in_7``: eight calls in one day (the second to eighth also break the
  ``one_contact_a_day`` cadence, logged too);
* ``call_after_conversation``: a call three days after a telephone conversation.

Each planted contact lies in a quiet fortnight (no other interaction of the borrower within
7 local days either side, save the conversation or opt-out it follows), so it neither breaks
another rule nor makes an ordinary contact break one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.config import SimulationConfig

PLANTED_COLUMNS = ["interaction_id", "loan_id", "rule_id", "kind"]
_QUIET_DAYS = 7
_FLAG_KINDS = {"cease_and_desist": "cease_and_desist", "dispute": "open_dispute", "bankruptcy": "bankruptcy"}


def planting_rng(config: SimulationConfig) -> np.random.Generator:
    """The planted breaches' own stream: a sixth child of the master seed (the book's five
    streams are the first five, untouched)."""
    return np.random.default_rng(np.random.SeedSequence(config.seed).spawn(6)[5])


class _Planter:
    def __init__(self, tables: dict[str, pd.DataFrame], config: SimulationConfig, rng: np.random.Generator):
        self.config, self.rng = config, rng
        loans = tables["loans"][["loan_id", "borrower_id", "disbursed_on"]]
        self.borrowers = tables["borrowers"].set_index("borrower_id")
        self.loans = loans.set_index("loan_id")
        events = tables["interactions"].merge(loans[["loan_id", "borrower_id"]], on="loan_id")
        zone = events["borrower_id"].map(self.borrowers["timezone"])
        local = pd.Series(pd.NaT, index=events.index, dtype="datetime64[ns]")
        for name, index in zone.groupby(zone).groups.items():
            local.loc[index] = events.loc[index, "occurred_at"].dt.tz_convert(str(name)).dt.tz_localize(None)
        self.events = events.assign(day=local.dt.normalize())
        # Busy (borrower, day) pairs as integer keys: a planted contact needs a quiet fortnight.
        self.codes = {b: i for i, b in enumerate(self.borrowers.index)}
        event_keys = self._keys(self.events["borrower_id"], self.events["day"])
        self.busy = set(event_keys.tolist())
        # Events per (borrower, day), counted once: the planter asks it thousands of times.
        keys, counts = np.unique(event_keys, return_counts=True)
        self.events_per_day = dict(zip(keys.tolist(), counts.tolist(), strict=True))
        flags = tables["account_flags"].merge(loans[["loan_id", "borrower_id"]], on="loan_id")
        self.flags = flags.assign(
            starts_on=pd.to_datetime(flags["starts_on"]), ends_on=pd.to_datetime(flags["ends_on"])
        )
        # Plain lookups: the planter asks them thousands of times, row by row.
        self.flags_by_borrower: dict[str, list[tuple[pd.Timestamp, pd.Timestamp, str]]] = {}
        for borrower, starts, ends, flag in self.flags[
            ["borrower_id", "starts_on", "ends_on", "flag"]
        ].itertuples(index=False):
            self.flags_by_borrower.setdefault(borrower, []).append((starts, ends, flag))
        self.has_phone = self.borrowers["has_phone"].astype(bool).to_dict()
        self.borrower_of = self.loans["borrower_id"].to_dict()
        self.disbursed_on = pd.to_datetime(self.loans["disbursed_on"]).to_dict()
        self.first_day = pd.Timestamp(config.sim_start) + pd.Timedelta(days=30)
        self.last_day = pd.Timestamp(config.as_of) - pd.Timedelta(days=_QUIET_DAYS + 1)
        self.rows: list[dict] = []
        self.truth: list[dict] = []

    def _keys(self, borrower: pd.Series, day: pd.Series) -> np.ndarray:
        codes = borrower.map(self.codes).to_numpy(dtype=np.int64)
        return codes * 1_000_000 + (day.to_numpy(dtype="datetime64[D]").astype(np.int64))

    def _key(self, borrower: str, day: pd.Timestamp) -> int:
        return self.codes[borrower] * 1_000_000 + int(np.datetime64(day, "D").astype(np.int64))

    def quiet(self, borrower: str, day: pd.Timestamp, allowed: frozenset[pd.Timestamp] = frozenset()) -> bool:
        base = self.codes[borrower] * 1_000_000
        first = int(np.datetime64(day, "D").astype(np.int64))
        return all(
            base + d not in self.busy or pd.Timestamp(np.datetime64(d, "D")) in allowed
            for d in range(first - _QUIET_DAYS, first + _QUIET_DAYS + 1)
        )

    def lawful_but(self, loan: str, day: pd.Timestamp, channel: str, allowed_flag: str | None = None) -> bool:
        """The contact would break no rule but the one planted: means, consents, holds, flags."""
        borrower = self.borrower_of[loan]
        if self.disbursed_on[loan] >= day - pd.Timedelta(days=_QUIET_DAYS):
            return False
        if channel in ("call", "sms", "whatsapp") and not self.has_phone[borrower]:
            return False
        return not any(
            starts <= day and (pd.isna(ends) or ends >= day) and flag != allowed_flag
            for starts, ends, flag in self.flags_by_borrower.get(borrower, ())
        )

    def plant(
        self,
        loan: str,
        day: pd.Timestamp,
        channel: str,
        hours: list[float],
        rules: list[list[str]],
        kind: str,
    ) -> None:
        borrower = self.loans.at[loan, "borrower_id"]
        zone = str(self.borrowers.at[borrower, "timezone"])
        agents = self.rng.integers(1, self.config.n_call_agents + 1, size=len(hours))
        for hour, rule_ids, agent in zip(hours, rules, agents, strict=True):
            interaction_id = f"IX{len(self.rows) + 1:07d}"
            local = day + pd.Timedelta(seconds=int(hour * 3600))
            self.rows.append(
                {
                    "interaction_id": interaction_id,
                    "loan_id": loan,
                    "occurred_at": pd.Timestamp(local)
                    .tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
                    .tz_convert("UTC"),
                    "channel": channel,
                    "direction": "outbound",
                    "outcome": "no_answer" if channel == "call" else "delivered",
                    "agent_id": f"A{int(agent):04d}" if channel == "call" else None,
                }
            )
            self.truth += [
                {"interaction_id": interaction_id, "loan_id": loan, "rule_id": r, "kind": kind}
                for r in rule_ids
            ]
        self.busy.add(self.codes[borrower] * 1_000_000 + int(np.datetime64(day, "D").astype(np.int64)))

    def random_day(self, low: pd.Timestamp, high: pd.Timestamp) -> pd.Timestamp | None:
        low, high = max(low, self.first_day), min(high, self.last_day)
        if low > high:
            return None
        return low + pd.Timedelta(days=int(self.rng.integers(0, (high - low).days + 1)))

    def from_loans(
        self, loans: pd.Index, n: int, channel: str, hours: list[float], rules: list[list[str]], kind: str
    ) -> None:
        """Plant ``n`` contacts on random quiet lawful days of random ``loans``."""
        planted, tries = 0, 0
        while planted < n and tries < 50 * n and len(loans):
            tries += 1
            loan = str(loans[self.rng.integers(0, len(loans))])
            day = self.random_day(pd.Timestamp(self.loans.at[loan, "disbursed_on"]), self.last_day)
            borrower = self.loans.at[loan, "borrower_id"]
            if day is not None and self.quiet(borrower, day) and self.lawful_but(loan, day, channel):
                self.plant(loan, day, channel, hours, rules, kind)
                planted += 1

    def under_flags(self, flag: str, n: int) -> None:
        rows = self.flags[self.flags["flag"] == flag].to_dict("records")
        planted, tries = 0, 0
        while planted < n and tries < 50 * n and len(rows):
            tries += 1
            row = rows[int(self.rng.integers(0, len(rows)))]
            end = row["ends_on"] if pd.notna(row["ends_on"]) else self.last_day
            day = self.random_day(row["starts_on"] + pd.Timedelta(days=1), end)
            if day is None or not self.quiet(row["borrower_id"], day):
                continue
            if self.borrowers.at[row["borrower_id"], "do_not_contact"] or not self.lawful_but(
                row["loan_id"], day, "call", flag
            ):
                continue
            self.plant(row["loan_id"], day, "call", [14.0], [[_FLAG_KINDS[flag]]], flag)
            planted += 1

    def after_event(
        self, events: pd.DataFrame, n: int, offset: int, rule_id: str, kind: str, *, same_channel: bool
    ) -> None:
        """Contacts ``offset`` days after one of ``events`` (a conversation, an opt-out)."""
        planted, tries = 0, 0
        records = events[["day", "borrower_id", "loan_id", "channel"]].to_dict("records")
        while planted < n and tries < 50 * n and len(records):
            tries += 1
            event = records[int(self.rng.integers(0, len(records)))]
            day = event["day"] + pd.Timedelta(days=offset)
            if not (self.first_day <= day <= self.last_day):
                continue
            if self.borrowers.at[event["borrower_id"], "do_not_contact"]:
                continue
            channel = event["channel"] if same_channel else "call"
            if not self.quiet(event["borrower_id"], day, frozenset({event["day"]})):
                continue
            same_day = self.events_per_day.get(self._key(event["borrower_id"], event["day"]), 0)
            if same_day > 1 or not self.lawful_but(event["loan_id"], day, channel):
                continue
            self.plant(event["loan_id"], day, channel, [13.0], [[rule_id]], kind)
            planted += 1


def plant_breaches(
    tables: dict[str, pd.DataFrame], config: SimulationConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The interactions table with the planted breaches added (sorted as the simulator sorts
    it), and the truth: one row per planted contact and rule it breaks (:data:`PLANTED_COLUMNS`).

    ``planted_breach_share`` of the book's outbound contacts is planted per kind, at least
    ``planted_breach_min`` where the book offers a place for it (a flag of that kind, an
    opt-out, a conversation); 0 plants none.
    """
    interactions = tables["interactions"]
    empty = pd.DataFrame({c: pd.Series(dtype="str") for c in PLANTED_COLUMNS})
    if config.planted_breach_share <= 0:
        return interactions, empty
    outbound = int((interactions["direction"] == "outbound").sum())
    n = max(config.planted_breach_min, int(round(config.planted_breach_share * outbound)))
    planter = _Planter(tables, config, planting_rng(config))
    people = planter.borrowers
    loans = planter.loans
    person = loans["borrower_id"].map(people["do_not_contact"]).astype(bool)
    phone = loans["borrower_id"].map(people["has_phone"]).astype(bool)
    no_sms = ~loans["borrower_id"].map(people["consent_sms"]).astype(bool)
    ordinary = loans.index[~person & phone]
    planter.from_loans(ordinary, n, "call", [22.5], [["convenient_hours"]], "contact_hours")
    for flag in _FLAG_KINDS:
        planter.under_flags(flag, n)
    planter.from_loans(loans.index[person & phone], n, "call", [14.0], [["do_not_contact"]], "do_not_contact")
    planter.from_loans(
        loans.index[~person & phone & no_sms], n, "sms", [12.0], [["message_consent"]], "consent"
    )
    cap_hours = [10.0 + 0.5 * i for i in range(8)]
    cap_rules = [[]] + [["one_contact_a_day"]] * 6 + [["one_contact_a_day", "call_frequency_7_in_7"]]
    planter.from_loans(ordinary, n, "call", cap_hours, cap_rules, "attempt_cap")
    events = planter.events
    opt_outs = events[events["outcome"] == "opted_out"]
    planter.after_event(opt_outs, n, _QUIET_DAYS + 1, "channel_opt_out", "opt_out", same_channel=True)
    talks = events[
        (events["channel"] == "call")
        & events["outcome"].isin(["right_party_contact", "promise_to_pay", "refused"])
    ]
    planter.after_event(talks, n, 3, "call_after_conversation", "conversation_cooldown", same_channel=False)
    if not planter.rows:
        return interactions, empty
    added = pd.DataFrame(planter.rows).astype({"agent_id": "str"})
    added["agent_id"] = added["agent_id"].where(added["channel"] == "call", None)
    added = added.assign(
        promised_amount=np.nan, promised_date=pd.Series(pd.NaT, index=added.index, dtype="datetime64[ns]")
    )
    added = added.astype(
        {c: interactions[c].dtype for c in interactions.columns if c in added and c != "agent_id"}
    )
    merged = pd.concat([interactions, added[interactions.columns]], ignore_index=True)
    merged = merged.sort_values(["occurred_at", "interaction_id"], kind="stable", ignore_index=True)
    truth = pd.DataFrame(planter.truth, columns=PLANTED_COLUMNS)
    return merged, truth
