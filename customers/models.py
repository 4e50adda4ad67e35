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
    """A new customer: a phone is all that is required."""

    phone: StrictStr = Field(description="In any human format; stored as E.164 digits, e.g. 79123456789")
    email: StrictStr | None = None
    email_confirmed: StrictBool = False
    source_id: SourceId | None = None
    profile: JsonObject = Field(
        default_factory=dict, description="Questionnaire answers, validated against the settings"
    )
    meta: JsonObject = Field(default_factory=dict)
    subscriptions: dict[str, StrictBool] = Field(default_factory=dict)
    loyalty_enabled: StrictBool = True
    accept_tender_offer: StrictBool = False
    prioritize_sms_verification: StrictBool = False
    created: InputDate | None = Field(default=None, description="Defaults to today")


class CustomerUpdate(_Input):
    """A partial update. `profile`, `meta` and `subscriptions` are merged key by key; a key set to
    null is removed. Phone and email change through their own operations."""

    source_id: SourceId | None = None
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
    email: StrictStr


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
