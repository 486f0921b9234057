"""Static population of the book: borrowers with latent traits, loans, repayment schedules.

Everything here is drawn once, before the daily loop, from the population random
stream. Money is held in integer cents so that the engine's allocation of
payments to installments is exact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simulation import catalog
from simulation.config import SimulationConfig

# Latent ability to pay is largely, not wholly, explained by income.
INCOME_ABILITY_CORRELATION = 0.75

# Sentinels for padded schedule columns: never due, never reachable by payments.
NEVER_DUE_DAY = np.int32(2**30)
UNREACHABLE_CENTS = np.int64(2**62)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function (numerically safe for the ranges used here)."""
    return 1.0 / (1.0 + np.exp(-x))


class _ArrayBundle:
    """Dataclass mixin: every field is an array indexed by entity along axis 0."""

    def take(self, rows: np.ndarray):
        """Return a copy restricted (or tiled) to ``rows``."""
        return dataclasses.replace(
            self, **{field.name: getattr(self, field.name)[rows] for field in dataclasses.fields(self)}
        )

    def copy(self):
        return dataclasses.replace(
            self, **{field.name: getattr(self, field.name).copy() for field in dataclasses.fields(self)}
        )


@dataclass(frozen=True)
class BorrowerProfile(_ArrayBundle):
    """Per-borrower arrays (length n_borrowers): observed attributes and latent traits."""

    region: np.ndarray  # int8 index into catalog.REGIONS
    age: np.ndarray  # int16, at as_of
    gender: np.ndarray  # int8 index into catalog.GENDERS (true value)
    gender_reported: np.ndarray  # bool
    birth_year_reported: np.ndarray  # bool
    monthly_income: np.ndarray  # float64, true income
    income_reported: np.ndarray  # bool
    reported_income: np.ndarray  # float64, what the application form says
    language: np.ndarray  # int8 index into catalog.LANGUAGES, -1 unknown
    has_phone: np.ndarray
    has_email: np.ndarray
    consent_sms: np.ndarray
    consent_email: np.ndarray
    consent_whatsapp: np.ndarray
    do_not_contact: np.ndarray
    wrong_number: np.ndarray  # number on file reaches somebody else
    preferred_method: np.ndarray  # int8 index into catalog.PAYMENT_METHODS
    ability: np.ndarray  # latent, ~N(0, 1), driven partly by income
    willingness: np.ndarray  # latent, ~N(0, 1)
    credit_score: np.ndarray  # bureau score at application: sees ability and past willingness, with noise
    shock_daily_rate: np.ndarray  # daily probability of an income shock starting
    reachability: (
        np.ndarray
    )  # (n, 6) P(success | attempt) per channel: RPC for call/visit, delivery for messages
    responsiveness: np.ndarray  # (n, 6) payment log-odds added by a successful contact per channel


@dataclass(frozen=True)
class LoanTerms(_ArrayBundle):
    """Per-loan arrays (length n_loans), including the padded repayment schedule."""

    borrower_index: np.ndarray  # int64 into BorrowerProfile
    product: np.ndarray  # int8 index into catalog.PRODUCT_SPECS
    branch: np.ndarray  # int16 index into Population.branch_ids
    disbursed_day: np.ndarray  # int32 day index
    principal_cents: np.ndarray  # int64
    annual_rate: np.ndarray  # float64
    n_installments: np.ndarray  # int32
    installment_cents: np.ndarray  # int64, the regular installment
    schedule_row: np.ndarray  # int64 row of this loan in RepaymentSchedules (shared by replicas)
    total_due_cents: np.ndarray  # int64
    do_not_visit: np.ndarray  # bool, static flag from disbursement
    never_pays: np.ndarray  # bool, latent first-payment-default / fraud loan


@dataclass(frozen=True)
class RepaymentSchedules:
    """Padded schedule matrices, one row per original loan, column k = installment k + 1.

    Kept apart from ``LoanTerms`` so that Monte-Carlo replicas of a loan share
    one copy of its (large) schedule instead of duplicating it.
    """

    due_day: np.ndarray  # (n, max_n + 1) int32, NEVER_DUE_DAY beyond the schedule
    cumulative_due_cents: np.ndarray  # (n, max_n + 1) int64, UNREACHABLE_CENTS beyond the schedule


@dataclass(frozen=True)
class Population:
    """Borrowers, loans, repayment schedules and branch vocabulary of one book."""

    borrowers: BorrowerProfile
    loans: LoanTerms
    schedules: RepaymentSchedules
    branch_ids: tuple[str, ...]
    branch_region: np.ndarray  # int8 region index per branch

    @property
    def n_loans(self) -> int:
        return len(self.loans.product)

    @property
    def n_borrowers(self) -> int:
        return len(self.borrowers.region)

    def tile_loans(self, rows: np.ndarray) -> Population:
        """Population whose loans are ``rows`` (repeats allowed), each with a private borrower copy.

        Used for Monte-Carlo ground truth: replicas must not share shock state
        through a common borrower.
        """
        borrowers = self.borrowers.take(self.loans.borrower_index[rows])
        loans = dataclasses.replace(
            self.loans.take(rows), borrower_index=np.arange(len(rows), dtype=np.int64)
        )
        return dataclasses.replace(self, borrowers=borrowers, loans=loans)


def generate_population(config: SimulationConfig, rng: np.random.Generator) -> Population:
    """Draw borrowers, loans and schedules for ``config`` from ``rng``."""
    n_loans = config.n_loans
    n_second = int(round(n_loans * config.second_loan_share / (1.0 + config.second_loan_share)))
    n_borrowers = n_loans - n_second
    # Underwriting: the worst-scoring applicants never become borrowers, which trims
    # the hopeless tail a real lender does not book.
    n_applicants = int(np.ceil(n_borrowers / (1.0 - config.underwriting_reject_share)))
    applicants = _generate_borrowers(config, n_applicants, rng)
    approved = np.sort(np.argsort(-applicants.credit_score, kind="stable")[:n_borrowers])
    borrowers = applicants.take(approved)
    borrower_index, disbursed_day, borrower_order = _assign_loans(config, n_borrowers, n_second, rng)
    borrowers = borrowers.take(borrower_order)
    branch_ids, branch_region = _branches()
    loans, schedules = _generate_loans(config, borrowers, borrower_index, disbursed_day, branch_region, rng)
    return Population(
        borrowers=borrowers,
        loans=loans,
        schedules=schedules,
        branch_ids=branch_ids,
        branch_region=branch_region,
    )


def _branches() -> tuple[tuple[str, ...], np.ndarray]:
    names: list[str] = []
    regions: list[int] = []
    for region_index, region in enumerate(catalog.REGIONS):
        for number in range(1, region.n_branches + 1):
            names.append(f"BR-{region.code}-{number:02d}")
            regions.append(region_index)
    return tuple(names), np.asarray(regions, dtype=np.int8)


def _zero_inflated_gamma(
    rng: np.random.Generator, p_nonzero: np.ndarray | float, scale: np.ndarray | float, size: int
) -> np.ndarray:
    # Heterogeneous uplift: for many borrowers a contact through a channel adds
    # nothing at all, for the rest the effect varies a lot.
    nonzero = rng.random(size) < p_nonzero
    return np.where(nonzero, rng.gamma(2.0, 1.0, size) * scale, 0.0)


def _generate_borrowers(config: SimulationConfig, n: int, rng: np.random.Generator) -> BorrowerProfile:
    region_weights = np.array([region.weight for region in catalog.REGIONS])
    region = rng.choice(len(catalog.REGIONS), size=n, p=region_weights / region_weights.sum()).astype(np.int8)

    age = np.clip(np.round(21 + rng.gamma(3.5, 6.0, n)), 21, 84).astype(np.int16)
    gender = rng.choice(3, size=n, p=[0.505, 0.485, 0.01]).astype(np.int8)
    is_male = gender == 1
    is_female = gender == 0
    age_std = (age - 42.0) / 13.0

    # Income has a realistic age profile and a mild gender gap; because ability
    # depends on income, protected attributes end up correlated with repayment
    # without any direct causal effect, which is what fairness reviews must find.
    income_median = np.array([r.income_median for r in catalog.REGIONS])[region]
    log_income = (
        np.log(income_median)
        - 0.45 * ((age - 50.0) / 22.0) ** 2
        + 0.06 * is_male
        + 0.5 * rng.standard_normal(n)
    )
    monthly_income = np.exp(log_income)
    income_std = (log_income - log_income.mean()) / log_income.std()
    ability = INCOME_ABILITY_CORRELATION * income_std + np.sqrt(
        1 - INCOME_ABILITY_CORRELATION**2
    ) * rng.standard_normal(n)
    willingness = 0.2 * ability + np.sqrt(1 - 0.2**2) * rng.standard_normal(n)
    # The bureau has seen the borrower repay (or not) elsewhere, so the score reflects
    # willingness as well as ability.
    credit_score = 0.7 * ability + 0.5 * willingness + 0.5 * rng.standard_normal(n)

    shock_tilt = np.exp(-0.4 * ability)
    shock_daily_rate = config.shock_annual_rate / 365.0 * shock_tilt / shock_tilt.mean()

    # Channel affinity varies with age (younger: messaging, older: calls) and
    # mildly with gender: realistic correlations a fairness review can surface.
    reach_logit = np.column_stack(
        [
            -0.6 + 0.35 * age_std + 0.15 * is_female + 0.9 * rng.standard_normal(n),  # call: RPC
            2.2 + 0.8 * rng.standard_normal(n),  # sms delivered
            1.5 - 0.1 * age_std + 0.9 * rng.standard_normal(n),  # email delivered
            2.0 - 0.2 * age_std + 0.8 * rng.standard_normal(n),  # whatsapp delivered
            0.2 + 0.7 * rng.standard_normal(n),  # field visit: somebody at home
            3.0 + 0.5 * rng.standard_normal(n),  # letter delivered
        ]
    )
    reachability = sigmoid(reach_logit)
    message_affinity = np.exp(-0.2 * age_std)
    responsiveness = np.column_stack(
        [
            # Calls move able-but-reluctant borrowers most ("persuadables").
            _zero_inflated_gamma(rng, 0.65, 1.2 * np.exp(0.25 * (ability - willingness)), n),
            _zero_inflated_gamma(
                rng, sigmoid(-0.5 * age_std), 0.45 * message_affinity * (1 + 0.1 * is_female), n
            ),
            _zero_inflated_gamma(rng, 0.4, 0.25, n),
            _zero_inflated_gamma(rng, sigmoid(0.2 - 0.6 * age_std), 0.5 * message_affinity, n),
            _zero_inflated_gamma(rng, 0.8, 1.5, n),
            _zero_inflated_gamma(rng, 0.3, 0.15, n),
        ]
    )

    has_phone = rng.random(n) < config.has_phone_rate
    has_email = rng.random(n) < np.clip(config.has_email_rate - 0.08 * age_std, 0.3, 0.98)
    consent_sms = has_phone & (rng.random(n) < config.consent_sms_rate)
    consent_email = has_email & (rng.random(n) < config.consent_email_rate)
    whatsapp_logit = np.log(config.consent_whatsapp_rate / max(1 - config.consent_whatsapp_rate, 1e-9))
    consent_whatsapp = has_phone & (rng.random(n) < sigmoid(whatsapp_logit - 0.7 * age_std))
    do_not_contact = rng.random(n) < config.do_not_contact_rate
    wrong_number = has_phone & (rng.random(n) < config.wrong_number_rate)

    spanish_share = np.array([r.spanish_share for r in catalog.REGIONS])[region]
    language_draw = rng.random(n)
    language = np.where(language_draw < spanish_share, 1, 0).astype(np.int8)
    other_language = (language_draw > 0.965) & (language_draw <= 0.98)
    language[other_language] = rng.integers(2, len(catalog.LANGUAGES), other_language.sum())
    language[language_draw > 0.98] = -1

    method_logits = np.column_stack(
        [
            np.full(n, 1.0),  # card
            0.3 + 0.3 * income_std,  # bank transfer
            -0.6 - 0.5 * income_std + 0.2 * age_std,  # cash
            0.2 + 0.4 * income_std,  # direct debit
            0.0 - 0.6 * age_std,  # wallet
        ]
    )
    preferred_method = np.argmax(method_logits + rng.gumbel(size=method_logits.shape), axis=1).astype(np.int8)

    # Declared income is noisy and rounded, like application data.
    reported_income = np.round(monthly_income * np.exp(0.1 * rng.standard_normal(n)), -1)

    return BorrowerProfile(
        region=region,
        age=age,
        gender=gender,
        gender_reported=rng.random(n) >= config.missing_gender_rate,
        birth_year_reported=rng.random(n) >= config.missing_birth_year_rate,
        monthly_income=monthly_income,
        income_reported=rng.random(n) >= config.missing_income_rate,
        reported_income=reported_income,
        language=language,
        has_phone=has_phone,
        has_email=has_email,
        consent_sms=consent_sms,
        consent_email=consent_email,
        consent_whatsapp=consent_whatsapp,
        do_not_contact=do_not_contact,
        wrong_number=wrong_number,
        preferred_method=preferred_method,
        ability=ability,
        willingness=willingness,
        credit_score=credit_score,
        shock_daily_rate=shock_daily_rate,
        reachability=reachability,
        responsiveness=responsiveness,
    )


def _assign_loans(
    config: SimulationConfig, n_borrowers: int, n_second: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loan -> borrower assignment and disbursement days, in chronological loan order.

    Returns the borrower index of each loan (after renumbering borrowers in the
    order of their first loan), the disbursement day of each loan, and the
    permutation that renumbers the borrower profiles accordingly.
    """
    n = n_borrowers + n_second
    original_borrower = np.concatenate(
        [np.arange(n_borrowers), rng.choice(n_borrowers, size=n_second, replace=False)]
    )
    last_disbursement_day = config.history_days - config.min_loan_age_days
    growth = config.disbursement_growth
    u = rng.random(n)
    # Inverse CDF of a linearly increasing density: the book grows over time.
    position = u if growth == 0 else (np.sqrt(1 + growth * (2 + growth) * u) - 1) / growth
    disbursed_day = np.minimum(
        (position * (last_disbursement_day + 1)).astype(np.int32), last_disbursement_day
    )

    order = np.argsort(disbursed_day, kind="stable")
    disbursed_day = disbursed_day[order]
    original_borrower = original_borrower[order]
    first_loan = np.full(n_borrowers, n, dtype=np.int64)
    np.minimum.at(first_loan, original_borrower, np.arange(n))
    borrower_order = np.argsort(first_loan, kind="stable")
    new_number = np.empty(n_borrowers, dtype=np.int64)
    new_number[borrower_order] = np.arange(n_borrowers)
    return new_number[original_borrower], disbursed_day, borrower_order


def _generate_loans(
    config: SimulationConfig,
    borrowers: BorrowerProfile,
    borrower_index: np.ndarray,
    disbursed_day: np.ndarray,
    branch_region: np.ndarray,
    rng: np.random.Generator,
) -> tuple[LoanTerms, RepaymentSchedules]:
    n = len(borrower_index)
    income = borrowers.monthly_income[borrower_index]
    income_std = (np.log(income) - np.log(income).mean()) / np.log(income).std()

    mix = np.array([config.product_mix.get(p.name, 0.0) for p in catalog.PRODUCT_SPECS])
    affinity = np.array([p.income_affinity for p in catalog.PRODUCT_SPECS])
    product_weights = mix[None, :] * np.exp(affinity[None, :] * income_std[:, None])
    product_weights /= product_weights.sum(axis=1, keepdims=True)
    product = (rng.random(n)[:, None] > np.cumsum(product_weights, axis=1)).sum(axis=1)
    product = np.minimum(product, len(catalog.PRODUCT_SPECS) - 1).astype(np.int8)

    region = borrowers.region[borrower_index]
    branch = np.empty(n, dtype=np.int16)
    for region_index in range(len(catalog.REGIONS)):
        in_region = region == region_index
        candidates = np.flatnonzero(branch_region == region_index)
        branch[in_region] = candidates[rng.integers(0, len(candidates), in_region.sum())]

    # Risk-based pricing on the (noisy) bureau score makes the interest rate an
    # informative feature.
    credit_score = borrowers.credit_score[borrower_index] + 0.3 * rng.standard_normal(n)
    principal = np.empty(n)
    annual_rate = np.empty(n)
    n_installments = np.empty(n, dtype=np.int32)
    period_noise = rng.standard_normal(n)
    rate_draw = rng.random(n)
    zero_rate_draw = rng.random(n)
    term_draw = rng.random(n)
    for code, spec in enumerate(catalog.PRODUCT_SPECS):
        sel = product == code
        raw = np.exp(
            np.log(spec.principal_median) + spec.principal_sigma * period_noise[sel] + 0.25 * income_std[sel]
        )
        principal[sel] = np.clip(
            np.round(raw / spec.principal_rounding) * spec.principal_rounding,
            spec.principal_min,
            spec.principal_max,
        )
        position = np.clip(0.5 - 0.25 * credit_score[sel] + 0.15 * (rate_draw[sel] - 0.5), 0.0, 1.0)
        rate = np.round(spec.rate_low + (spec.rate_high - spec.rate_low) * position, 4)
        annual_rate[sel] = np.where(zero_rate_draw[sel] < spec.zero_rate_share, 0.0, rate)
        terms = np.asarray(spec.terms)
        n_installments[sel] = terms[np.minimum((term_draw[sel] * len(terms)).astype(int), len(terms) - 1)]

    period_rate = annual_rate / np.array([p.periods_per_year for p in catalog.PRODUCT_SPECS])[product]
    installment_cents, last_installment_cents = _annuity_cents(principal, period_rate, n_installments)

    due_day = _due_days(config, disbursed_day, product, n_installments)
    n_columns = due_day.shape[1]
    column = np.arange(n_columns)[None, :]
    in_schedule = column < n_installments[:, None]
    amounts = np.where(in_schedule, installment_cents[:, None], 0)
    amounts[np.arange(n), n_installments - 1] = last_installment_cents
    cumulative_due = np.cumsum(amounts, axis=1)
    total_due = cumulative_due[np.arange(n), n_installments - 1]
    cumulative_due = np.where(in_schedule, cumulative_due, UNREACHABLE_CENTS)
    due_day = np.where(in_schedule, due_day, NEVER_DUE_DAY).astype(np.int32)

    # First-payment defaulters slip through underwriting more often when the score is low.
    never_pay_tilt = np.exp(-0.5 * credit_score)
    never_pays = rng.random(n) < config.never_pay_rate * never_pay_tilt / never_pay_tilt.mean()

    loans = LoanTerms(
        borrower_index=borrower_index.astype(np.int64),
        product=product,
        branch=branch,
        disbursed_day=disbursed_day.astype(np.int32),
        principal_cents=np.round(principal * 100).astype(np.int64),
        annual_rate=annual_rate,
        n_installments=n_installments,
        installment_cents=installment_cents,
        schedule_row=np.arange(n, dtype=np.int64),
        total_due_cents=total_due.astype(np.int64),
        do_not_visit=rng.random(n) < config.do_not_visit_rate,
        never_pays=never_pays,
    )
    return loans, RepaymentSchedules(due_day=due_day, cumulative_due_cents=cumulative_due.astype(np.int64))


def _annuity_cents(
    principal: np.ndarray, period_rate: np.ndarray, n_installments: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Regular installment and the last (rounding-adjusted) installment, in cents."""
    n = n_installments.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = (1.0 + period_rate) ** n
        annuity = np.where(period_rate > 0, principal * period_rate * growth / (growth - 1.0), principal / n)
    installment_cents = np.round(annuity * 100).astype(np.int64)
    # Balance after n-1 rounded installments, carried into the final payment.
    with np.errstate(divide="ignore", invalid="ignore"):
        growth_before_last = (1.0 + period_rate) ** (n - 1)
        balance_before_last = np.where(
            period_rate > 0,
            principal * growth_before_last
            - installment_cents / 100 * (growth_before_last - 1.0) / period_rate,
            principal - installment_cents / 100 * (n - 1),
        )
    last_cents = np.round(balance_before_last * (1.0 + period_rate) * 100).astype(np.int64)
    if np.any(last_cents <= 0):
        raise AssertionError("annuity rounding produced a non-positive last installment")
    return installment_cents, last_cents


def _due_days(
    config: SimulationConfig, disbursed_day: np.ndarray, product: np.ndarray, n_installments: np.ndarray
) -> np.ndarray:
    """Due day index of installment k (column k-1) for k = 1..max_n, padded by one column."""
    n_columns = int(n_installments.max()) + 1
    k = np.arange(1, n_columns + 1)
    start = np.datetime64(config.sim_start, "D")
    period_days = np.array([p.period_days for p in catalog.PRODUCT_SPECS])[product]
    due_day = disbursed_day[:, None].astype(np.int64) + period_days[:, None] * k[None, :]

    monthly = period_days == 0
    if monthly.any():
        disbursed = start + disbursed_day[monthly].astype(np.int64)
        month = disbursed.astype("datetime64[M]")
        day_of_month = (disbursed - month.astype("datetime64[D]")).astype(np.int64) + 1
        target_month = month[:, None] + k[None, :]
        month_start = target_month.astype("datetime64[D]")
        month_length = ((target_month + 1).astype("datetime64[D]") - month_start).astype(np.int64)
        # Day 31 disbursements fall due on the last day of shorter months.
        due = month_start + (np.minimum(day_of_month[:, None], month_length) - 1)
        due_day[monthly] = (due - start).astype(np.int64)
    return due_day
