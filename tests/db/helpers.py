"""Helpers shared by the database tests: a valid delivery and writing frames as upstream would."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from tests.factories import borrower, flag, interaction, loan, payment, schedule, typed_tables


def contract_delivery() -> dict[str, pd.DataFrame]:
    """Six valid tables in contract types, with nulls, booleans, dates and offset timestamps."""
    return typed_tables(
        borrowers=[
            borrower("B1"),
            borrower(
                "B2",
                preferred_language=None,
                birth_year=None,
                gender=None,
                monthly_income=None,
                has_email=False,
                do_not_contact=True,
            ),
        ],
        loans=[loan("L1", "B1"), loan("L2", "B2", principal=2500.0, n_installments=3)],
        installments=schedule("L1") + schedule("L2", first_due="2024-11-01", n=3, amount=850.25),
        payments=[
            payment("P1", "2024-10-02T09:30:00Z", 100.0),
            payment("P2", "2024-11-03T23:15:00.123456-05:00", 40.5, loan_id="L2"),
        ],
        interactions=[
            interaction(
                "I1",
                "2024-12-01T15:00:00Z",
                outcome="promise_to_pay",
                promised_amount=80.0,
                promised_date="2024-12-10",
            ),
            interaction(
                "I2", "2024-12-02T10:00:00Z", loan_id="L2", channel="sms", outcome="delivered", agent_id=None
            ),
        ],
        account_flags=[
            flag("L1", "dispute", "2024-12-05", "2024-12-20"),
            flag("L2", "hardship_plan", "2025-01-01"),
        ],
    )


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions resolve unqualified table names in ``schema``."""
    return (
        sa.make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def write_tables(
    url: str, tables: dict[str, pd.DataFrame], *, schema: str | None = None, prefix: str = ""
) -> None:
    """Write frames with pandas' to_sql, as an upstream system would have stored them."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            for name, frame in tables.items():
                frame.to_sql(f"{prefix}{name}", connection, schema=schema, index=False)
    finally:
        engine.dispose()
