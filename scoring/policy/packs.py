"""Contact-policy rule packs: versioned YAML files of typed rules, one pack per jurisdiction.

A pack is data. Each rule names its ``kind``; the kind's small pure function in
:mod:`scoring.policy.rules` turns the rule plus the contact history into blocks. Adding a
jurisdiction means adding a YAML file to ``configs/policies/``, not code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from data_contracts.cutoff import iana_zone
from data_contracts.enums import CHANNELS, DIRECTIONS, FLAGS, RIGHT_PARTY_OUTCOMES, Direction

PACKS_DIR = Path(__file__).resolve().parents[2] / "configs" / "policies"
ALL_CHANNELS = "all"
# The account flag of a disputed debt: the one flag whose hold is also a case the lender must
# answer by a deadline (scoring.disputes lists them).
DISPUTE_FLAG = "dispute"
# Borrower columns a rule may require to be true before a channel is used.
PermissionColumn = Literal["has_phone", "has_email", "consent_sms", "consent_email", "consent_whatsapp"]
BORROWER_PERMISSIONS: tuple[PermissionColumn, ...] = get_args(PermissionColumn)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable rule identifier.")
    reason: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Reason code written when it blocks.")
    description: str = Field(min_length=1, description="The rule in plain words.")
    source: str = Field("", description="Law, regulation or house policy the rule encodes.")


def _channel_list(value: str | list[str]) -> tuple[str, ...]:
    channels = tuple(CHANNELS) if value == ALL_CHANNELS else tuple(value)
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown or not channels:
        raise ValueError(f"unknown or no channels {unknown}; known: {list(CHANNELS)} or 'all'")
    return channels


Channels = Annotated[tuple[str, ...], BeforeValidator(_channel_list)]


Scope = Literal["loan", "borrower"]
SCOPE_DESCRIPTION = (
    "loan: the rule reads the loan's own flags or contacts (a debt-level rule, e.g. Reg F's 7-in-7); "
    "borrower: those of every loan of the same borrower (a person-level fact or protection)."
)


class FlagHold(_Rule):
    """An account flag in force on a day blocks the listed channels that day.

    With ``route: forbearance`` the loan also goes to the care (forbearance) list. With
    ``scope: borrower`` a flag on any of the borrower's loans holds all of them (death,
    bankruptcy, vulnerability and a cease request concern the person, not one debt). A rule on
    the ``dispute`` flag may state ``response_days``, the pack's deadline to answer a dispute,
    with the ``response_source`` that sets it (see :mod:`scoring.disputes`).
    """

    kind: Literal["flag_hold"]
    flag: str
    channels: Channels = tuple(CHANNELS)
    route: Literal["none", "forbearance"] = "none"
    scope: Scope = Field("loan", description=SCOPE_DESCRIPTION)
    response_days: int | None = Field(
        None,
        ge=1,
        description="Dispute rules only: calendar days from the dispute's received date (the flag's "
        "starts_on) within which the lender must answer it; null when the pack encodes no deadline.",
    )
    response_source: str = Field(
        "",
        description="Dispute rules only: the law or house rule that sets response_days (or says "
        "why there is none).",
    )

    @field_validator("flag")
    @classmethod
    def _known_flag(cls, value: str) -> str:
        if value not in FLAGS:
            raise ValueError(f"unknown flag {value!r}; known: {list(FLAGS)}")
        return value

    @model_validator(mode="after")
    def _forbearance_holds_every_channel(self) -> FlagHold:
        if self.route == "forbearance" and set(self.channels) != set(CHANNELS):
            raise ValueError(f"rule {self.id}: a forbearance route holds every channel (channels: all)")
        return self

    @model_validator(mode="after")
    def _deadline_of_a_dispute(self) -> FlagHold:
        # Only the dispute list reads a deadline: on any other flag it would be silently ignored.
        states_one = self.response_days is not None or bool(self.response_source)
        if states_one and self.flag != DISPUTE_FLAG:
            raise ValueError(
                f"rule {self.id}: response_days and response_source are the deadline to answer a "
                f"dispute; only a rule on flag {DISPUTE_FLAG!r} states one"
            )
        if self.response_days is not None and not self.response_source.strip():
            raise ValueError(f"rule {self.id}: response_days needs the response_source that sets it")
        return self


class BorrowerHold(_Rule):
    """A true borrower column (e.g. do_not_contact) blocks the listed channels indefinitely."""

    kind: Literal["borrower_hold"]
    column: Literal["do_not_contact"]
    channels: Channels = tuple(CHANNELS)


class BorrowerPermission(_Rule):
    """A channel needs a true borrower column (a phone on file, consent to texts...)."""

    kind: Literal["borrower_permission"]
    requires: dict[str, PermissionColumn]  # channel -> column

    @field_validator("requires")
    @classmethod
    def _known_channels(cls, value: dict[str, str]) -> dict[str, str]:
        _channel_list(list(value))
        return value


class OptOut(_Rule):
    """An ``opted_out`` interaction on a channel blocks that channel for good."""

    kind: Literal["opt_out"]
    channels: Channels


class ContactHours(_Rule):
    """Contact only within [start, end) of the borrower's local clock on every day."""

    kind: Literal["contact_hours"]
    channels: Channels
    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _start_before_end(self) -> ContactHours:
        if not self.start < self.end:
            raise ValueError(f"contact hours start {self.start} must be before end {self.end}")
        return self


class AttemptCap(_Rule):
    """At most ``max_attempts`` attempts on ``counted_channels`` in any ``window_days``
    consecutive local days; the attempt being planned counts. Blocks ``channels``."""

    kind: Literal["attempt_cap"]
    channels: Channels
    counted_channels: Channels
    directions: tuple[Direction, ...] = ("outbound",)
    max_attempts: int = Field(ge=1)
    window_days: int = Field(ge=1, le=366)
    scope: Scope = Field("loan", description=SCOPE_DESCRIPTION)


class ConversationCooldown(_Rule):
    """No contact on ``channels`` for ``days`` local days counting the day of a conversation
    with the borrower (that day is day 1)."""

    kind: Literal["conversation_cooldown"]
    channels: Channels
    conversation_channels: Channels
    directions: tuple[Direction, ...] = tuple(DIRECTIONS)
    outcomes: tuple[str, ...] = RIGHT_PARTY_OUTCOMES
    days: int = Field(ge=1, le=366)
    scope: Scope = Field("loan", description=SCOPE_DESCRIPTION)


class ContactGap(_Rule):
    """The minimum gap between contacts, per account (``scope: loan``) or per person
    (``scope: borrower``).

    After a counted contact on local day L (on ``counted_channels``, in ``directions``, any
    outcome: an attempt counts whatever came of it), ``channels`` are blocked from the work day
    through local day L + ``days`` - 1; day L + ``days`` is free again. It is a cap of one
    attempt in any ``days`` consecutive local days. "At most one field visit in 7 days" is
    channels [field_visit], counted_channels [field_visit], days 7; "no more than one contact a
    day" is channels all, counted_channels all, days 1.
    """

    kind: Literal["contact_gap"]
    channels: Channels
    counted_channels: Channels
    directions: tuple[Direction, ...] = ("outbound",)
    days: int = Field(ge=1, le=366)
    scope: Scope = Field("loan", description=SCOPE_DESCRIPTION)

    def as_attempt_cap(self) -> AttemptCap:
        """The same rule as an attempt cap of one attempt in ``days`` local days (same id and
        reason), so that blocks and attempts left are computed once for both kinds."""
        shared = self.model_dump(exclude={"kind", "days"})
        return AttemptCap(kind="attempt_cap", **shared, max_attempts=1, window_days=self.days)


_RuleT = TypeVar("_RuleT", bound=_Rule)

Rule = Annotated[
    FlagHold
    | BorrowerHold
    | BorrowerPermission
    | OptOut
    | ContactHours
    | AttemptCap
    | ConversationCooldown
    | ContactGap,
    Field(discriminator="kind"),
]
_RULE = TypeAdapter(Rule)


class RulePack(BaseModel):
    """One jurisdiction's contact policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(min_length=1, description="Bumped on every change; written on every output row.")
    jurisdiction: str
    description: str
    timezone: str | None = Field(
        None,
        description="the jurisdiction's business clock (IANA): the default time zone of the nightly data cut-off",
    )
    rules: tuple[Rule, ...]

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        return value if value is None else iana_zone(value, "the pack's timezone")

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> RulePack:
        ids = [rule.id for rule in self.rules]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"rule ids must be unique within a pack; repeated: {repeated}")
        return self

    def of_kind(self, kind: type[_RuleT]) -> list[_RuleT]:
        """The pack's rules of one kind, in file order."""
        return [rule for rule in self.rules if isinstance(rule, kind)]

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def with_house_rules(pack: RulePack, rules: Iterable[Rule | Mapping[str, Any]]) -> RulePack:
    """A copy of ``pack`` with the lender's own rules (e.g. cadence rules from the config)
    appended after the pack's, which they can only add to, never replace.

    Each rule is a Rule object or a mapping validated as one (``kind`` picks the type). Raises
    ValueError naming the id when an extra rule's id repeats one already in the pack.
    """
    extra = tuple(_RULE.validate_python(rule) for rule in rules)
    in_pack = {rule.id for rule in pack.rules}
    seen: set[str] = set()
    for rule in extra:
        # Refused, not overridden: a house rule must never silently replace a rule of the law.
        if rule.id in in_pack:
            raise ValueError(f"house rule id {rule.id!r} repeats a rule id of pack {pack.label}")
        if rule.id in seen:
            raise ValueError(f"house rule id {rule.id!r} is given twice")
        seen.add(rule.id)
    return RulePack.model_validate({**dict(pack), "rules": (*pack.rules, *extra)})


def available_packs(packs_dir: Path = PACKS_DIR) -> list[str]:
    """Names of the packs shipped in ``packs_dir``."""
    return sorted(path.stem for path in Path(packs_dir).glob("*.yaml"))


def load_pack(name_or_path: str | Path, packs_dir: Path = PACKS_DIR) -> RulePack:
    """Load a pack by name (``configs/policies/<name>.yaml``) or from a YAML file path."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"}:
        path = candidate
    else:
        path = Path(packs_dir) / f"{name_or_path}.yaml"
        if not path.exists():
            raise ValueError(
                f"unknown policy pack {str(name_or_path)!r}; available: {available_packs(packs_dir)}"
            )
    pack = RulePack.model_validate(yaml.safe_load(path.read_text()))
    if path.parent == Path(packs_dir) and pack.name != path.stem:
        raise ValueError(f"{path.name} declares name {pack.name!r}; a shipped pack is named after its file")
    return pack


def resolve_packs(
    default: str | Path,
    by_region: dict[str, str],
    packs_dir: Path = PACKS_DIR,
    house_rules: Iterable[Rule | Mapping[str, Any]] = (),
) -> tuple[dict[str, RulePack], str, dict[str, str]]:
    """Load the run's packs (names or YAML paths): packs by name, the default pack's name, and
    region -> pack name. ``house_rules`` (the lender's cadence, ``policy.cadence`` in the config)
    are added to every pack (:func:`with_house_rules`)."""
    extra = tuple(house_rules)
    loaded = {
        spec: with_house_rules(load_pack(spec, packs_dir), extra)
        for spec in {str(default), *map(str, by_region.values())}
    }
    packs: dict[str, RulePack] = {}
    for pack in loaded.values():
        if pack.name in packs and packs[pack.name] != pack:
            raise ValueError(f"two different packs are both named {pack.name!r}")
        packs[pack.name] = pack
    return (
        packs,
        loaded[str(default)].name,
        {region: loaded[str(spec)].name for region, spec in by_region.items()},
    )
