"""What a caller asks `find` for: free text, filters, a page and an order (validated against
the index schema by `plan`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

Condition = Literal["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "prefix", "contains", "exists"]


class Filter(BaseModel):
    """One condition: `kind` is a field key (`city`, `phone`, `meta.legacy_id`)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | StrictInt | None = Field(default=None, description="The caller's own label, echoed in errors")
    kind: StrictStr
    condition: Condition
    value: Any = None


class FindRequest(BaseModel):
    """Free text over the text fields (prefix on the last word), filters, a page and an order."""

    model_config = ConfigDict(extra="forbid")

    query: StrictStr | None = None
    filters: list[Filter] = Field(default_factory=list)
    offset: StrictInt = Field(default=0, ge=0)
    limit: StrictInt = Field(default=20, ge=0)
    sort_key: StrictStr | None = Field(default=None, description="A sortable field; default id")
    sort_order: Literal["asc", "desc"] = "asc"
