"""Static vocabularies of the simulated book: regions, products, channels, outcomes, flags.

The engine works on small integer codes for speed; these tuples map codes to the
string values written into the tables, so the position of each entry is part of
the engine's internal contract (append, never reorder).
"""

from __future__ import annotations

from dataclasses import dataclass

from data_contracts.enums import ARRANGEMENT_KINDS, CHANNELS, DIRECTIONS, FLAGS, OUTCOMES

# --- geography ------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    name: str
    timezone: str
    code: str  # used in branch ids
    weight: float  # share of borrowers
    income_median: float  # monthly, USD
    spanish_share: float
    n_branches: int


REGIONS: tuple[Region, ...] = (
    Region("northeast", "America/New_York", "NE", 0.20, 4300.0, 0.07, 4),
    Region("southeast", "America/New_York", "SE", 0.22, 3600.0, 0.15, 4),
    Region("midwest", "America/Chicago", "MW", 0.20, 3700.0, 0.06, 3),
    Region("mountain", "America/Denver", "MT", 0.08, 3800.0, 0.10, 2),
    Region("southwest", "America/Phoenix", "SW", 0.10, 3500.0, 0.25, 2),
    Region("pacific", "America/Los_Angeles", "PA", 0.20, 4600.0, 0.20, 4),
)
TIMEZONES: tuple[str, ...] = tuple(dict.fromkeys(region.timezone for region in REGIONS))
REGION_TIMEZONE_CODE: tuple[int, ...] = tuple(TIMEZONES.index(region.timezone) for region in REGIONS)

LANGUAGES: tuple[str, ...] = ("en", "es", "zh", "vi", "fr")
GENDERS: tuple[str, ...] = ("female", "male", "nonbinary")

# --- products -------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    name: str
    frequency: str  # weekly | fortnightly | monthly
    period_days: int  # 0 for calendar-monthly schedules
    periods_per_year: int
    principal_median: float
    principal_sigma: float
    principal_min: float
    principal_max: float
    principal_rounding: float  # principals are whole multiples of this (USD)
    rate_low: float
    rate_high: float
    zero_rate_share: float  # interest-free share (BNPL)
    terms: tuple[int, ...]
    income_affinity: float  # higher-income borrowers choose products with higher affinity
    risk_offset: float  # on-time log-odds offset: prime products are paid more reliably
    cure_offset: float  # overdue-payment log-odds offset: e.g. repossession risk makes auto loans cure


PRODUCT_SPECS: tuple[Product, ...] = (
    Product(
        name="personal_loan",
        frequency="monthly",
        period_days=0,
        periods_per_year=12,
        principal_median=6000.0,
        principal_sigma=0.6,
        principal_min=1000.0,
        principal_max=35000.0,
        principal_rounding=50.0,
        rate_low=0.09,
        rate_high=0.36,
        zero_rate_share=0.0,
        terms=(12, 18, 24, 36),
        income_affinity=0.25,
        risk_offset=0.0,
        cure_offset=0.0,
    ),
    Product(
        name="microloan",
        frequency="weekly",
        period_days=7,
        periods_per_year=52,
        principal_median=600.0,
        principal_sigma=0.55,
        principal_min=100.0,
        principal_max=3000.0,
        principal_rounding=10.0,
        rate_low=0.60,
        rate_high=1.80,
        zero_rate_share=0.0,
        terms=(8, 12, 16, 26),
        income_affinity=-0.7,
        risk_offset=-0.45,
        cure_offset=-0.4,
    ),
    Product(
        name="bnpl",
        frequency="fortnightly",
        period_days=14,
        periods_per_year=26,
        principal_median=350.0,
        principal_sigma=0.7,
        principal_min=50.0,
        principal_max=2500.0,
        principal_rounding=1.0,
        rate_low=0.10,
        rate_high=0.30,
        zero_rate_share=0.7,
        terms=(4, 6, 8),
        income_affinity=0.0,
        risk_offset=-0.15,
        cure_offset=0.3,
    ),
    Product(
        name="auto_loan",
        frequency="monthly",
        period_days=0,
        periods_per_year=12,
        principal_median=18000.0,
        principal_sigma=0.45,
        principal_min=5000.0,
        principal_max=60000.0,
        principal_rounding=100.0,
        rate_low=0.04,
        rate_high=0.18,
        zero_rate_share=0.0,
        terms=(36, 48, 60, 72),
        income_affinity=0.9,
        risk_offset=0.45,
        cure_offset=0.8,
    ),
)
PRODUCTS: tuple[str, ...] = tuple(product.name for product in PRODUCT_SPECS)

# --- collections vocabulary --------------------------------------------------------------

# The contract's closed vocabularies; the simulator codes each value by its position in them.
CALL, SMS, EMAIL, WHATSAPP, FIELD_VISIT, LETTER = range(len(CHANNELS))
N_CHANNELS = len(CHANNELS)

OUTBOUND, INBOUND = range(len(DIRECTIONS))

(
    NO_ANSWER,
    RIGHT_PARTY_CONTACT,
    PROMISE_TO_PAY,
    REFUSED,
    DISPUTE_RAISED,
    WRONG_PARTY,
    DELIVERED,
    UNDELIVERED,
    OPTED_OUT,
) = range(len(OUTCOMES))

DISPUTE, CEASE_AND_DESIST, BANKRUPTCY, DECEASED, LEGAL_HOLD, HARDSHIP_PLAN, DO_NOT_VISIT, VULNERABLE = range(
    len(FLAGS)
)

# "arrangement" (a plan's instalment or a settlement) and "agency" (collected by an external
# agency after a referral) are how the lender books those payments, whatever the borrower used.
PAYMENT_METHODS: tuple[str, ...] = (
    "card",
    "bank_transfer",
    "cash",
    "direct_debit",
    "wallet",
    "arrangement",
    "agency",
)
CARD, BANK_TRANSFER, CASH, DIRECT_DEBIT, WALLET, ARRANGEMENT_METHOD, AGENCY_METHOD = range(
    len(PAYMENT_METHODS)
)

# Why a payment happened; kept in the engine log (not in the tables) because the
# payment method and time of day depend on it.
PAYMENT_KINDS: tuple[str, ...] = ("scheduled", "overdue", "promise", "instalment", "settlement", "agency")
(
    SCHEDULED_PAYMENT,
    OVERDUE_PAYMENT,
    PROMISE_PAYMENT,
    INSTALMENT_PAYMENT,
    SETTLEMENT_PAYMENT,
    AGENCY_PAYMENT,
) = range(len(PAYMENT_KINDS))

# --- treatments beyond contact: offers, arrangements ----------------------------------------

# What a collector may offer a borrower reached that day. The input contract's ``arrangements``
# table carries plans and settlements; deferments (payment holidays) live in the simulator only.
OFFER_KINDS: tuple[str, ...] = (*ARRANGEMENT_KINDS, "deferment")
OFFER_PLAN, OFFER_SETTLEMENT, OFFER_DEFERMENT = range(len(OFFER_KINDS))
NO_ARRANGEMENT = -1  # LoanState.arr_kind of a loan in no arrangement

# What became of an offer on its day. The first three were never put to the borrower.
OFFER_OUTCOMES: tuple[str, ...] = ("not_contacted", "not_reached", "in_arrangement", "declined", "accepted")
OFFER_NOT_CONTACTED, OFFER_NOT_REACHED, OFFER_IN_ARRANGEMENT, OFFER_DECLINED, OFFER_ACCEPTED = range(
    len(OFFER_OUTCOMES)
)

# What happened to an accepted arrangement on a later day.
ARRANGEMENT_EVENTS: tuple[str, ...] = ("instalment_kept", "broken", "completed", "settled", "deferment_ended")
INSTALMENT_KEPT, ARRANGEMENT_BROKEN, ARRANGEMENT_COMPLETED, SETTLEMENT_PAID, DEFERMENT_ENDED = range(
    len(ARRANGEMENT_EVENTS)
)
