"""Which staff page each role sees: the API's role rules, less the roles that are not staff (customers, apps)."""

from __future__ import annotations

from dataclasses import dataclass

from serving.auth import ROLES
from serving.commerce.api import ORDER_ROLES, REPORT_ROLES
from serving.commerce.feedback_api import READ_FEEDBACK
from serving.endpoints.demand import READ_ROLES, WRITE_ROLES
from serving.endpoints.profile import PROFILE_ROLES

STAFF = tuple(r for r in ROLES if r not in ("customer", "app"))


def staff(*roles: str) -> tuple[str, ...]:
    """The staff roles among an API route's roles (a page never admits customer or app keys)."""
    return tuple(r for r in roles if r in STAFF)


@dataclass(frozen=True)
class Page:
    name: str
    label: str
    path: str
    roles: tuple[str, ...]
    purpose: str = ""


OVERRIDE_ROLES = WRITE_ROLES  # POST/DELETE /forecast/overrides
MODEL_ROLES = ("admin", "ops")  # /models, /models/reload, `retail models promote|rollback`

# each page admits the staff roles of the API it reads: /v1/reports/sales, /forecast, /v1/customers/{id}/profile,
# /v1/feedback, /models and POST /v1/orders (order entry: admin, ops, sales_rep, store)
PAGES = (
    Page("sales", "Sales", "/ui/sales", staff(*REPORT_ROLES), "Revenue, orders and trends by day, channel and store."),
    Page("forecasts", "Forecasts", "/ui/forecasts", staff(*READ_ROLES), "Demand forecasts, their bands and overrides."),
    Page(
        "customers",
        "Customers",
        "/ui/customers",
        staff(*PROFILE_ROLES),
        "Find a customer; their orders, points and risk.",
    ),
    Page(
        "feedback",
        "Feedback",
        "/ui/feedback",
        staff(*READ_FEEDBACK),
        "Reviews by priority and sentiment; resolve them.",
    ),
    Page("models", "Models", "/ui/models", staff(*MODEL_ROLES), "Champions, challengers; promote, roll back, reload."),
    Page(
        "order-entry",
        "Order entry",
        "/ui/order-entry",
        staff(*ORDER_ROLES),
        "Find or add a customer, search the catalogue, fill their cart and check out.",
    ),
)
BY_NAME = {p.name: p for p in PAGES}


def visible(role: str) -> list[Page]:
    """The pages a role may open, in menu order."""
    return [p for p in PAGES if role in p.roles]
