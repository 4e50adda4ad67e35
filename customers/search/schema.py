"""The index schema, derived from the questionnaire: one `IndexField` per searchable value.

Every field knows two things: how its value is *normalised* (one SQL expression, used both to
produce the index documents and by the PostgreSQL implementation of `find`, so the two engines
compare exactly the same values) and how it is declared in the index.

Normalisation, the same on both engines:
- tag: trimmed and lower-cased (RediSearch 1.2 folds only ASCII case, so Cyrillic values are
  indexed and queried lower-cased); lists: each element so, joined by `SEP`;
- text: lower-cased words (`[[:alnum:]_]+`) joined by one space, so the server's tokenizer sees
  exactly our words; stop words are off and stemming is off (`NOSTEM`): `contains` means whole
  words on both engines;
- numeric: float; dates as YYYYMMDD, datetimes as epoch seconds;
- word prefixes of text fields (and value prefixes of free-string tags) from 2 up to
  `PREFIX_TAG_MAX` characters are indexed as tags of their own: a prefix query is then an exact
  tag lookup, never a term expansion that RediSearch caps at 200 terms and silently truncates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from customers.questionnaire import Questionnaire
from customers.questionnaire_document import FieldSpec

Kind = Literal["text", "tag", "numeric"]
Source = Literal["core", "profile", "meta"]

SEP = "\x1f"  # tag separator: a control character, absent from real values
PREFIX_MIN = 2
PREFIX_TAG_MAX = 10
# Missing values of sortable fields get a sentinel that sorts last ascending (first descending),
# as NULLs do in PostgreSQL: RediSearch 1.2 places documents without the value erratically.
# Every numeric field carries it, so that `ne` is a union of two ranges: 1.2 answers negated
# numeric ranges wrongly (documents dropped, the last one always).
NUM_SENTINEL = 10**18
NUM_SENTINEL_TEXT = str(NUM_SENTINEL)
TEXT_SENTINEL = "\uffff"
NUMBER_LIMIT = 10**15  # filter values beyond this are refused (they would meet the sentinel)

_WORD_CLASS = "[^[:alnum:]_]+"


@dataclass(frozen=True)
class IndexField:
    """One value of a customer in the index."""

    key: str  # the name `find` uses in filters and sort keys: `phone`, `city`, `meta.legacy_id`
    attr: str  # the attribute name in the index
    kind: Kind
    type: str  # value type: the questionnaire type, or phone / id for core columns
    sortable: bool
    source: Source
    nullable: bool = True
    options: tuple[str, ...] | None = None

    @property
    def is_list(self) -> bool:
        return self.type == "list"

    @property
    def prefixable(self) -> bool:
        """Text fields (word prefixes) and free-string tags (value prefixes)."""
        return self.kind == "text" or (
            self.kind == "tag" and self.type in ("string", "email") and self.source != "core"
        )

    @property
    def prefix_attr(self) -> str:
        return f"_p_{self.attr}"

    # -- SQL ------------------------------------------------------------------------------

    def raw_sql(self) -> str:
        """The stored value: a column, or the text of a jsonb member."""
        if self.source == "core":
            return self.key
        container = "profile" if self.source == "profile" else "meta"
        member = self.key.split(".", 1)[-1]
        return f"{container}->>'{member}'"

    def json_sql(self) -> str:
        container = "profile" if self.source == "profile" else "meta"
        member = self.key.split(".", 1)[-1]
        return f"{container}->'{member}'"

    def value_sql(self) -> str:
        """The normalised value in SQL (text, float8 or text[] for lists); NULL when absent."""
        raw = self.raw_sql()
        if self.source == "core":
            match self.key:
                case "email":
                    return "nullif(lower(btrim(email)), '')"
                case "phone":
                    return "phone"
                case "created":
                    return "to_char(created, 'YYYYMMDD')::float8"
                case "updated_at":
                    return "extract(epoch FROM updated_at)::float8"
                case "id":
                    return "id::float8"
                case "source_id" if self.kind == "numeric":
                    # an index built while source_id was an integer column: it keeps getting the
                    # values that are numbers until `migrate` builds one that holds the text
                    return "CASE WHEN source_id ~ '^-?[0-9]{1,15}$' THEN source_id::float8 END"
                case "source_id":
                    return "nullif(lower(btrim(source_id)), '')"
                case _:  # booleans
                    return f"{self.key}::text"
        if self.is_list:
            return (
                f"ARRAY(SELECT lower(btrim(e)) FROM jsonb_array_elements_text("
                f"CASE WHEN jsonb_typeof({self.json_sql()}) = 'array' THEN {self.json_sql()} END) e "
                f"WHERE btrim(e) <> '')"
            )
        match self.kind:
            case "text":
                return f"nullif(btrim(regexp_replace(lower({raw}), '{_WORD_CLASS}', ' ', 'g')), '')"
            case "tag" if self.type == "boolean":
                return f"CASE WHEN jsonb_typeof({self.json_sql()}) = 'boolean' THEN {raw} END"
            case "tag":
                return f"nullif(lower(btrim({raw})), '')"
        match self.type:
            case "date":
                return f"CASE WHEN {raw} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}$' THEN replace({raw}, '-', '')::float8 END"
            case "datetime":
                return (
                    f"CASE WHEN {raw} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}[T ]\\d{{2}}:\\d{{2}}' "
                    f"THEN extract(epoch FROM ({raw})::timestamptz)::float8 END"
                )
        return f"CASE WHEN jsonb_typeof({self.json_sql()}) = 'number' THEN ({raw})::float8 END"

    def present_sql(self, value: str | None = None) -> str:
        """True when the customer has a value for this field (`value`: the normalised value
        already computed, see `documents_sql`)."""
        value = value or self.value_sql()
        if self.is_list:
            return f"cardinality({value}) > 0"
        return f"({value}) IS NOT NULL"

    def sort_sql(self) -> str:
        """The sort value, with the same sentinel for missing values as in the index."""
        if self.kind == "numeric":
            return f"coalesce({self.value_sql()}, {NUM_SENTINEL}::float8)"
        return f'coalesce({self.value_sql()}, chr(65535)) COLLATE "C"'

    def doc_sql(self, value: str | None = None) -> str:
        """The value as written into the index document (NULL: the attribute is left out)."""
        value = value or self.value_sql()
        if self.is_list:
            return f"nullif(array_to_string({value}, E'\\x1f'), '')"
        if self.nullable and (self.sortable or self.kind == "numeric"):
            sentinel = NUM_SENTINEL_TEXT if self.kind == "numeric" else "chr(65535)"
            if self.kind == "numeric":
                return f"coalesce({value}, {sentinel}::float8)"
            return f"coalesce({value}, {sentinel})"
        return value

    def prefix_doc_sql(self, value: str | None = None) -> str:
        """Prefix tags (2..PREFIX_TAG_MAX characters) of the words or of the whole value.

        `value` should be a plain column (it is repeated): the prefixes of one word are
        distinct by their length, so a single word is expanded by an expression; only values
        of several words (rare) need the set-returning subquery that removes duplicates."""
        value = value or self.value_sql()
        single = ", ".join(
            f"CASE WHEN char_length({value}) >= {n} THEN left({value}, {n}) END"
            for n in range(PREFIX_MIN, PREFIX_TAG_MAX + 1)
        )
        single = f"nullif(concat_ws(E'\\x1f', {single}), '')"
        if self.kind != "text":
            return single
        words = (
            f"(SELECT string_agg(DISTINCT left(w, n), E'\\x1f') FROM regexp_split_to_table({value}, ' ') AS t(w), "
            f"generate_series({PREFIX_MIN}, least(char_length(w), {PREFIX_TAG_MAX})) AS n)"
        )
        return f"CASE WHEN strpos({value}, ' ') > 0 THEN {words} ELSE {single} END"

    # -- index declaration ----------------------------------------------------------------

    def declaration(self) -> list[str]:
        """The attribute's part of `FT.CREATE ... SCHEMA` (and its prefix tag's)."""
        parts: list[str] = [self.attr]
        if self.kind == "text":
            parts += ["TEXT", "NOSTEM"]
        elif self.kind == "tag":
            parts += ["TAG", "SEPARATOR", SEP]
        else:
            parts += ["NUMERIC"]
        if self.sortable:
            parts.append("SORTABLE")
        if self.prefixable:
            parts += [self.prefix_attr, "TAG", "SEPARATOR", SEP]
        return parts


HAS_ATTR = "_has"  # tag listing the attributes a document has a value for (for `exists`)


def _core() -> list[IndexField]:
    flags = ("email_confirmed", "blocked", "loyalty_enabled", "accept_tender_offer", "prioritize_sms_verification")
    return [
        IndexField("id", "id", "numeric", "id", True, "core", nullable=False),
        IndexField("source_id", "source_id", "tag", "string", True, "core"),
        IndexField("phone", "phone", "tag", "phone", False, "core", nullable=False),
        IndexField("email", "email", "tag", "email", False, "core"),
        *(IndexField(flag, flag, "tag", "boolean", False, "core", nullable=False) for flag in flags),
        IndexField("created", "created", "numeric", "date", True, "core", nullable=False),
        IndexField("updated_at", "updated_at", "numeric", "datetime", True, "core", nullable=False),
    ]


def _from_spec(spec: FieldSpec, source: Source) -> IndexField | None:
    if spec.search == "none":
        return None
    key = spec.key if source == "profile" else f"meta.{spec.key}"
    attr = spec.key if source == "profile" else f"_m_{spec.key}"
    return IndexField(
        key=key,
        attr=attr,
        kind=spec.search,
        type=spec.type,
        sortable=spec.sortable,
        source=source,
        options=tuple(spec.options) if spec.options else None,
    )


@dataclass(frozen=True)
class IndexSchema:
    """The fields of one index version."""

    fields: tuple[IndexField, ...]

    @classmethod
    def from_questionnaire(cls, q: Questionnaire) -> IndexSchema:
        """Core fields plus every questionnaire field whose search mode is not `none`."""
        fields = _core()
        for spec in q.document.fields:
            if (f := _from_spec(spec, "profile")) is not None:
                fields.append(f)
        for spec in q.document.meta_fields:
            if (f := _from_spec(spec, "meta")) is not None:
                fields.append(f)
        return cls(tuple(fields))

    @property
    def by_key(self) -> dict[str, IndexField]:
        return {f.key: f for f in self.fields}

    @property
    def text_fields(self) -> list[IndexField]:
        return [f for f in self.fields if f.kind == "text"]

    def declaration(self) -> list[str]:
        parts: list[str] = []
        for f in self.fields:
            parts += f.declaration()
        parts += [HAS_ATTR, "TAG", "SEPARATOR", SEP]
        return parts

    def to_json(self) -> str:
        return json.dumps([asdict(f) for f in self.fields], ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IndexSchema:
        items = json.loads(text)
        return cls(
            tuple(IndexField(**{**i, "options": tuple(i["options"]) if i.get("options") else None}) for i in items)
        )

    # -- documents ------------------------------------------------------------------------

    def document_columns(self) -> list[str]:
        """Attribute names of the columns `documents_sql` returns after `id`."""
        names: list[str] = []
        for f in self.fields:
            names.append(f.attr)
            if f.prefixable:
                names.append(f.prefix_attr)
        names.append(HAS_ATTR)
        return names

    def numeric_columns(self) -> set[str]:
        """Attribute names holding numbers (float8 columns)."""
        return {f.attr for f in self.fields if f.kind == "numeric"}

    def documents_sql(self, where: str, *, limit: bool = False) -> str:
        """SELECT id and every document attribute for the customers matching `where`.

        Each field's normalised value is computed once, in an inner query (kept apart by its
        ORDER BY, so the planner does not fold it back), and the document columns,
        prefix tags and the `_has` list are derived from it: the rebuild's cost is mostly
        this query."""
        values: list[str] = []
        exprs: list[str] = []
        has: list[str] = []
        for i, f in enumerate(self.fields):
            values.append(f"{f.value_sql()} AS v{i}")
            value = f"v.v{i}"
            exprs.append(f.doc_sql(value))
            if f.prefixable:
                exprs.append(f.prefix_doc_sql(value))
            if f.nullable:
                has.append(f"CASE WHEN {f.present_sql(value)} THEN '{f.attr}' END")
        exprs.append(f"nullif(concat_ws(E'\\x1f', {', '.join(has)}), '')" if has else "NULL")
        columns = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
        inner = f"SELECT customers.id, {', '.join(values)} FROM customers WHERE {where} ORDER BY customers.id"
        if limit:
            inner += " LIMIT %(limit)s"
        return f"SELECT v.id, {columns} FROM ({inner}) AS v ORDER BY v.id"
