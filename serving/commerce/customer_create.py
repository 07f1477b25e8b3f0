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
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^[a-z]{2,63}$|^xn--[a-z0-9-]{1,59}$")
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"


def normal_email(value: str) -> str:
    """The address trimmed and in lower case, if it is a plain `local@domain.tld` (else `ValueError` saying why).

    Deliberately strict, without a library: ASCII only, a dot-atom local part of at most 64 characters and a
    domain of at least two labels whose last is alphabetic (or punycode); no quoted local parts, IP literals or
    comments, which order entry never needs.
    """
    email = value.strip().lower()
    if len(email) > EMAIL_MAX:
        raise ValueError(f"an email is at most {EMAIL_MAX} characters")
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("an email is name@domain, e.g. ana@example.com")
    if len(local) > 64 or not _LOCAL.match(local):
        raise ValueError(
            f"{local!r} is not a plain mailbox name (letters, digits, dots between them, !#$%&'*+/=?^_`{{|}}~-)"
        )
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or not _TLD.match(labels[-1]):
        raise ValueError(f"{domain!r} is not a domain name such as example.com")
    return email


Email = Annotated[str, StringConstraints(min_length=3, max_length=320), AfterValidator(normal_email)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=NO_CONTROL)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=NO_CONTROL)]


class CustomerIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Ana Silva", "email": "Ana.Silva@example.com", "region": "north"}]},
    )

    name: Name = Field(description="As the customer gives it.")
    email: Email = Field(description="Kept in lower case; one customer per email.")
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
