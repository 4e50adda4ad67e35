"""Typed configuration, read from the environment and an optional TOML settings file.

The names are those of the original service (`services_db_*`, `search_enabled`,
`services_redis_*`). Precedence: explicit keyword arguments (command-line flags) win over
the environment, which wins over the settings file named by `CUSTOMERS_SETTINGS_FILE`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_FILE_ENV = "CUSTOMERS_SETTINGS_FILE"
Role = Literal["reader", "admin"]
ROLES: tuple[Role, ...] = ("reader", "admin")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting."""


class ProjectSettings(BaseSettings):
    """The base of every settings class of the project: names are case-insensitive, unknown keys
    ignored (one file and one environment serve them all), read from `project_sources`."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_prefix="")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return project_sources(settings_cls, init_settings, env_settings)

    @classmethod
    def load(cls, **overrides: object) -> Self:
        """Read the settings, failing with one line that names the bad variable (or the file)."""
        path = os.environ.get(SETTINGS_FILE_ENV)
        if path and not Path(path).is_file():
            raise ConfigError(f"settings file {path} ({SETTINGS_FILE_ENV}) does not exist")
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - pydantic.ValidationError or a TOML decode error
            errors = getattr(exc, "errors", None)
            if callable(errors):
                first = errors()[0]
                name = ".".join(str(p) for p in first["loc"])
                raise ConfigError(f"setting {name}: {first['msg']}") from None
            raise ConfigError(f"settings file {path}: {exc}") from None


class Settings(ProjectSettings):
    """Every setting of the service, CLI and jobs."""

    services_db_host: str | None = None
    services_db_port: int = 5432
    services_db_database: str = "customers"
    services_db_user: str = "postgres"
    services_db_password: SecretStr | None = None
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    # how long a request waits for a pooled connection before answering 503
    db_pool_timeout: float = Field(default=5.0, gt=0)
    # concurrent lookups by id/phone/email of a worker answered by one query (service.coalesce)
    lookup_coalescing: bool = True
    # concurrent creates, and concurrent updates, of a worker made by one statement (service.write_batches)
    write_coalescing: bool = True

    search_enabled: bool = False
    services_redis_host: str = "127.0.0.1"
    services_redis_port: int = 6379
    services_redis_db: int = 0
    services_redis_password: SecretStr | None = None
    services_redis_cluster: bool = False
    # search: deepest page served (offset + limit), rows per rebuild chunk
    search_max_window: int = Field(default=10_000, ge=1)
    search_chunk_size: int = Field(default=2_000, ge=1)

    customers_data_dir: Path = Path(".customers")
    phone_default_region: str = "RU"
    # "admin:<token>,reader:<token>" — several tokens per role are allowed.
    auth_tokens: SecretStr = SecretStr("")
    # lifetime of a temporary login code (Customers.cards.create_temp_card)
    login_code_ttl_seconds: int = Field(default=300, ge=1, le=86400)

    # HTTP hardening and logs (service.middleware)
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    http_max_json_depth: int = Field(default=32, ge=2)
    access_log: bool = False  # one JSON line per request; failed and slow requests are always logged
    log_level: str = "INFO"

    @field_validator("phone_default_region")
    @classmethod
    def _region_known(cls, value: str) -> str:
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (use an ISO 3166 code such as RU)")
        return region

    @field_validator("auth_tokens")
    @classmethod
    def _tokens_well_formed(cls, value: SecretStr) -> SecretStr:
        parse_tokens(value.get_secret_value())
        return value

    @property
    def embedded(self) -> bool:
        """True when no external database is configured."""
        return not self.services_db_host

    def tokens(self) -> dict[str, Role]:
        """Configured bearer tokens and their roles."""
        return parse_tokens(self.auth_tokens.get_secret_value())


def project_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Where every settings class of the project reads from, strongest first: keyword arguments
    (command-line flags), the environment, the TOML file named by CUSTOMERS_SETTINGS_FILE."""
    sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
    path = os.environ.get(SETTINGS_FILE_ENV)
    if path and Path(path).is_file():
        sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
    return tuple(sources)


def parse_tokens(spec: str) -> dict[str, Role]:
    """Parse `role:token[,role:token...]` into a token → role map."""
    tokens: dict[str, Role] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        role, sep, token = item.partition(":")
        if not sep or not token or role not in ROLES:
            raise ValueError("auth_tokens must look like 'admin:<token>,reader:<token>'")
        if len(token) < 16:
            raise ValueError(f"a {role} token is shorter than 16 characters")
        tokens[token] = role
    return tokens


def load_settings(**overrides: object) -> Settings:
    """Read the settings, failing with one line that names the bad variable."""
    return Settings.load(**overrides)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
