"""Parameter types shared by the routes and the JSON-RPC methods: ids and pages.

Ids are PostgreSQL bigints: a larger number is a field error, never sent to the database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field, StrictInt

MAX_ID = 2**63 - 1
# rows per page of a listing
MAX_PAGE_LIMIT = 1000
# ids per page of a listing of ids (JSON-RPC `Groups.customers.list`): as many as one membership
# call takes, and the published client asks for that many by default
MAX_ID_PAGE_LIMIT = 10_000

# in a path
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id the service assigned")]
GroupId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id the service assigned")]

# in a query string
PageOffset = Annotated[int, Query(ge=0)]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]

# in a JSON value (a request body's member, a JSON-RPC parameter): exactly an integer
StrictId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
StrictOffset = Annotated[StrictInt, Field(ge=0)]
StrictLimit = Annotated[StrictInt, Field(ge=1, le=MAX_PAGE_LIMIT)]
StrictIdLimit = Annotated[StrictInt, Field(ge=1, le=MAX_ID_PAGE_LIMIT)]
