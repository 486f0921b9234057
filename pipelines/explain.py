"""One account explained on one night (`recover explain`): the night's features of the loan,
the champions' models and the champion's payment share, handed to :mod:`review.explain`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from adapters import tracking
from data_contracts.artifacts import PAYMENT_AMOUNT_ARTIFACT
from features.responses import channel_history
from models.payment_amount import payment_share_from
from pipelines.common import channel_champion_or_prior, load_and_validate, night_cutoff
from pipelines.nightly_score_flow import features_for
from recover.config import Config
from review.explain import AccountExplanation, explain_account


class NothingToExplainError(ValueError):
    """The loan is not in the loan book, or is not overdue on that night: the nightly run would
    not score it."""


def explain_loan(config: Config, data: str | Path, as_of: dt.date, loan_id: str) -> AccountExplanation:
    """The breakdown of ``loan_id`` on work day ``as_of`` exactly as that night would score it:
    the tables in ``data`` up to the night's cut-off, the night's features, the propensity and
    best-channel champions (or the stated channel prior when none is registered), the channel
    history and the payment share logged with the propensity champion. Raises
    :class:`NothingToExplainError` for a loan the night would not score, ``LookupError`` without
    a champion, and the night's own errors on bad input."""
    cutoff = night_cutoff(config, as_of)
    validated = load_and_validate(data, cutoff, config)
    features = features_for.fn(validated.tables, cutoff, config)
    if not (features["loan_id"] == loan_id).any():
        known = (validated.tables["loans"]["loan_id"] == loan_id).any()
        why = "is not overdue on that date: nothing to explain" if known else "is not in the loan book"
        raise NothingToExplainError(f"loan {loan_id} {why}")
    propensity = tracking.load_champion(config)
    channel = channel_champion_or_prior(config, propensity)
    history = channel_history(validated.tables["interactions"], validated.tables["payments"], cutoff)
    return explain_account(
        features,
        loan_id,
        propensity.model,
        channel.model,
        history,
        config.decisions.channel_cost,
        payment_share=payment_share_from(
            tracking.load_run_document(config, propensity.run_id, PAYMENT_AMOUNT_ARTIFACT)
        ),
        repeat_contact_discount=config.decisions.repeat_contact_discount,
    )
