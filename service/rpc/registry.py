"""The method registry: a method's parameters are its signature, checked by a pydantic model."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from customers import search
from customers.config import Role, Settings
from customers.db import AsyncConn
from customers.errors import ValidationFailed, nul_text_errors
from customers.models import JsonObject
from customers.questionnaire import Questionnaire, field_errors
from customers.settings_store import QuestionnaireCache
from service.rpc.protocol import InvalidParams


@dataclass(frozen=True)
class Call:
    """What a method body gets: a connection, the settings, the questionnaire in force."""

    conn: AsyncConn
    settings: Settings
    questionnaire_cache: QuestionnaireCache
    search_runtime: search.SearchRuntime | None

    async def questionnaire(self) -> Questionnaire:
        return await self.questionnaire_cache.get(self.conn)

    @property
    def region(self) -> str:
        return self.settings.phone_default_region


MethodBody = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    """A registered method: its name, the role it needs, its body and its parameters' model."""

    name: str
    role: Role
    body: MethodBody
    params: type[BaseModel]
    order: tuple[str, ...]
    summary: str
    # parameters whose value the method gets as sent, nulls inside included (see `bind`)
    raw: frozenset[str] = frozenset()


class MethodTable:
    """Methods by name, in the order they were registered."""

    def __init__(self, *tables: MethodTable) -> None:
        self._by_name: dict[str, Method] = {}
        for table in tables:
            for spec in table:
                self._add(spec)

    def method(self, name: str, role: Role, *, raw: tuple[str, ...] = ()) -> Callable[[MethodBody], MethodBody]:
        """Register a method; its keyword parameters (after the Call) are the RPC parameters.
        The values of the parameters named in `raw` keep their nulls and `_type` members."""

        def register(body: MethodBody) -> MethodBody:
            hints = get_type_hints(body, include_extras=True)
            fields: dict[str, Any] = {}
            for pname, param in list(inspect.signature(body).parameters.items())[1:]:
                default = ... if param.default is inspect.Parameter.empty else param.default
                fields[pname] = (hints[pname], default)
            model = create_model("Params_" + name.replace(".", "_"), __config__=ConfigDict(extra="forbid"), **fields)
            summary = (body.__doc__ or "").strip().splitlines()[0] if body.__doc__ else ""
            self._add(Method(name, role, body, model, tuple(fields), summary, frozenset(raw)))
            return body

        return register

    def _add(self, spec: Method) -> None:
        if spec.name in self._by_name:
            raise ValueError(f"the method {spec.name} is registered twice")
        self._by_name[spec.name] = spec

    def get(self, name: str) -> Method | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Method]:
        return iter(self._by_name.values())


def without_nulls(value: Any) -> Any:
    """Drop `_type` tags and null members of objects at every depth: null means "not given"."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None and k != "_type"}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def bind(spec: Method, params: Any) -> JsonObject:
    """Check the call's params against the method's signature (InvalidParams otherwise)."""
    if params is None:
        params = {}
    elif isinstance(params, list):
        if len(params) > len(spec.order):
            raise InvalidParams(f"{spec.name} takes {len(spec.order)} parameters, {len(params)} given")
        params = dict(zip(spec.order, params, strict=False))
    # a parameter sent as null is not given; inside the values, so are null members (but for
    # the parameters the method takes raw: a free-form object keeps what it was given)
    params = {
        name: value if name in spec.raw else without_nulls(value)
        for name, value in params.items()
        if value is not None and name != "_type"
    }
    # PostgreSQL cannot store a NUL character: refused here, naming the field, for every text
    # parameter and every string inside an object parameter (not left to fail at the driver)
    errors = [error for name, value in params.items() for error in nul_text_errors(value, name)]
    if not errors:
        try:
            checked = spec.params.model_validate(params)
        except ValidationError as exc:
            errors = field_errors(exc.errors(include_url=False))
    if errors:
        summary = "; ".join(f"{e.field}: {e.code}" for e in errors[:5])
        raise InvalidParams(
            f"invalid params of {spec.name} ({summary})", errors=[e.to_dict() for e in errors]
        ) from None
    return {name: getattr(checked, name) for name in spec.order}


def model_input(model: type[BaseModel], data: JsonObject) -> Any:
    """Validate an object parameter (e.g. a customer) exactly as the REST body is validated."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc.errors(include_url=False))) from None
