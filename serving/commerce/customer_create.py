"""Creating a customer at order entry, where staff "find or create" the customer they serve.

The email is the customer's identity here: it is normalised (trimmed, lower case, as imported emails are kept)
and checked strictly, and a second customer with the same email is refused with the existing customer's id
(`EmailTaken`), so the page finds that customer instead. The email is also what makes a retried create harmless:
the retry is refused naming the customer the first request made. One create at a time per email: PostgreSQL
queues them on an advisory lock for the email, SQLite on its write lock (`BEGIN IMMEDIATE`), so two concurrent
creates with one email make one customer. (The email column is not unique in the database: imported customers
may share one; a create never adds another.)
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from serving.commerce import events
from serving.commerce.customers import CustomerOut
from serving.commerce.errors import Conflict
from serving.commerce.tables import Customer

log = logging.getLogger(__name__)

EMAIL_MAX = 254  # RFC 5321's limit on a forward path
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9](?:[A-Za-z0-9-]{0,57}[A-Za-z0-9])?)"
# the whole rule, also in the OpenAPI schema (so every schema-valid email is accepted): spaces or tabs around
# are trimmed
EMAIL_PATTERN = rf"^[ \t]*{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TLD}[ \t]*$"
_EMAIL = re.compile(EMAIL_PATTERN)
_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")
# no control characters, and no spaces at either end (so the schema says exactly what is accepted)
TRIMMED = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"


def normal_email(value: str) -> str:
    """The address trimmed and in lower case, if it is a plain `local@domain.tld` (else `ValueError` saying why).

    Deliberately strict, without a library (the project has none): ASCII only, a dot-atom local part and a domain
    of at least two labels whose last is alphabetic (or punycode); no quoted local parts, IP literals or comments,
    which order entry never needs.
    """
    if not _EMAIL.search(value):
        raise ValueError(_why(value.strip()))
    return value.strip().lower()


def _why(email: str) -> str:
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return "an email is name@domain, e.g. ana@example.com"
    if not _LOCAL.match(local):
        return f"{local!r} is not a plain mailbox name (letters, digits, dots between them, !#$%&'*+/=?^_`{{|}}~-)"
    return f"{domain!r} is not a domain name such as example.com"


Email = Annotated[str, StringConstraints(min_length=6, max_length=EMAIL_MAX), AfterValidator(normal_email)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=TRIMMED)]
Region = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TRIMMED)]


class CustomerIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Ana Silva", "email": "Ana.Silva@example.com", "region": "north"}]},
    )

    name: Name = Field(description="As the customer gives it (no spaces at either end).")
    email: Email = Field(
        description="name@domain.tld (spaces around trimmed); kept in lower case; one customer per email.",
        json_schema_extra={"pattern": EMAIL_PATTERN},
    )
    region: Region | None = Field(default=None, description="Optional, as in the raw customers table.")


class EmailTaken(Conflict):
    """Another customer already has this email: `customer_id` is theirs (the caller finds instead of creating)."""

    def __init__(self, email: str, customer_id: str) -> None:
        super().__init__(f"email: customer {customer_id} already has {email!r}; use that customer", "email", email)
        self.customer_id = customer_id


def new_id(s: Session) -> str:
    """`C` + 12 random hex digits, checked against every customer (imported ids included)."""
    while True:  # 48 random bits: a clash is all but impossible, but checking costs one primary-key look-up
        customer_id = f"C{secrets.token_hex(6).upper()}"
        if s.get(Customer, customer_id) is None:
            return customer_id


def create_customer(engine: Engine, body: CustomerIn) -> CustomerOut:
    """A new customer with a new id; `EmailTaken` when a customer has this email already."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"customer|{body.email}"})
        taken = s.scalar(
            select(Customer.customer_id).where(Customer.email == body.email).order_by(Customer.customer_id).limit(1)
        )
        if taken is not None:
            raise EmailTaken(body.email, taken)
        row = Customer(
            customer_id=new_id(s), name=body.name, email=body.email, region=body.region, created_at=events.now()
        )
        s.add(row)
    log.info("customer %s created", row.customer_id)
    return CustomerOut(
        customer_id=row.customer_id, region=row.region, created_at=row.created_at, name=row.name, email=row.email
    )
