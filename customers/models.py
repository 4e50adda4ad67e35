"""Customer schemas, one per direction: Create and Update come in, Customer goes out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, StringConstraints

from customers.questionnaire import parse_date

InputDate = Annotated[dt.date, BeforeValidator(parse_date)]
JsonObject = dict[str, Any]

# The customer's identifier in the system it came from (`app-ios-43`, `LEG-007-0000028`): text
# of at most this many characters (the table's CHECK, sql/006_source_id_text.sql, says the same).
SOURCE_ID_MAX_LENGTH = 255
SourceId = Annotated[
    StrictStr,
    StringConstraints(max_length=SOURCE_ID_MAX_LENGTH),
    Field(description=f"The customer's id in the system it came from: text, at most {SOURCE_ID_MAX_LENGTH} characters"),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerCreate(_Input):
    """A new customer: a phone is all that is required. An attribute left out takes the default
    written here: the one set of create defaults, the same for REST, JSON-RPC and bulk files
    (see `create_defaults`)."""

    phone: StrictStr = Field(description="In any human format; stored as E.164 digits, e.g. 79123456789")
    email: StrictStr | None = None
    email_confirmed: StrictBool = False
    source_id: SourceId | None = None
    profile: JsonObject = Field(
        default_factory=dict, description="Questionnaire answers, validated against the settings"
    )
    meta: JsonObject = Field(default_factory=dict)
    subscriptions: dict[str, StrictBool] = Field(default_factory=dict)
    loyalty_enabled: StrictBool = False
    accept_tender_offer: StrictBool = True
    prioritize_sms_verification: StrictBool = False
    created: InputDate | None = Field(default=None, description="Defaults to today")


# A create never sets `blocked` (block and unblock do): a new customer is not blocked.
_NEW_CUSTOMER_BLOCKED = False


def create_defaults() -> dict[str, Any]:
    """What a new customer gets for each attribute its create leaves out: the defaults of
    `CustomerCreate`, and `blocked` false; the attributes without a value of their own (`email`,
    `source_id`: null; `created`: today) are not listed.

    The one set of create defaults: the store's insert takes them through the model, bulk
    import fills the columns a file lacks (or leaves empty) with them, and the table's column
    DEFAULTs (sql/007_create_defaults.sql) agree with them, which a test checks.
    """
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in CustomerCreate.model_fields.items()
        if not field.is_required()
    }
    defaults["blocked"] = _NEW_CUSTOMER_BLOCKED
    return {name: value for name, value in defaults.items() if value is not None}


class CustomerUpdate(_Input):
    """A partial update. `profile`, `meta` and `subscriptions` are merged key by key; a key set to
    null is removed. A new `email` starts unconfirmed unless `email_confirmed` is given with it
    (as `change_email` leaves it); the phone changes through its own operation, an email is
    removed by `change_email` with none."""

    source_id: SourceId | None = None
    blocked: StrictBool | None = None
    email: StrictStr | None = None
    email_confirmed: StrictBool | None = None
    profile: JsonObject | None = None
    meta: JsonObject | None = None
    subscriptions: dict[str, StrictBool | None] | None = None
    loyalty_enabled: StrictBool | None = None
    accept_tender_offer: StrictBool | None = None
    prioritize_sms_verification: StrictBool | None = None
    created: InputDate | None = None


class PhoneChange(_Input):
    phone: StrictStr


class EmailChange(_Input):
    # null removes the customer's email
    email: StrictStr | None


class Customer(BaseModel):
    """A customer as stored."""

    id: int
    phone: str
    email: str | None
    email_confirmed: bool
    source_id: str | None
    blocked: bool
    profile: JsonObject
    meta: JsonObject
    subscriptions: dict[str, bool]
    loyalty_enabled: bool
    accept_tender_offer: bool
    prioritize_sms_verification: bool
    created: dt.date
    updated_at: dt.datetime
