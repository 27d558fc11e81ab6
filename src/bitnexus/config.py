"""Settings: ``config/base.toml`` → ``config/<env>.toml`` → environment.

One frozen :class:`Settings` object is built at start-up by :func:`load_settings`
and passed down explicitly; nothing reads configuration from a module global.

Sources, later ones win:

1. ``config/base.toml``: every key with its default (the schema's single source
   of defaults: a key missing there is an error).
2. ``config/<env>.toml``: the environment's overrides (``dev``, ``test``, ``prod``).
3. The well-known variables ``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY_BASE``
   and ``PORT``.
4. ``BITNEXUS_<SECTION>__<KEY>`` variables, e.g. ``BITNEXUS_SERVER__PORT=4001``,
   cast to the key's type. Lists are comma-separated.

Secrets never live in code or TOML: ``auth.secret_key_base`` comes from
``SECRET_KEY_BASE`` (or ``BITNEXUS_AUTH__SECRET_KEY_BASE``). In ``dev`` and
``test`` a missing secret is generated at load time and
``settings.auth.secret_generated`` is set so the server can warn about it.

Example::

    settings = load_settings("test", environ={"BITNEXUS_SERVER__PORT": "4001"})
    assert settings.server.port == 4001
    quieter = settings.override({"log.level": "error"})
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitnexus.exceptions import ConfigError

__all__ = [
    "AdminSettings",
    "AuthSettings",
    "DatabaseSettings",
    "DemoSettings",
    "HttpSettings",
    "LogSettings",
    "RedisSettings",
    "RuntimeSettings",
    "ServerSettings",
    "Settings",
    "SocketSettings",
    "load_settings",
]

_ENV_PREFIX = "BITNEXUS_"
_DEFAULT_ENV = "dev"
# Environments where a missing secret may be generated; anywhere else it is an error.
_SECRET_OPTIONAL_ENVS = frozenset({"dev", "test"})
_MIN_SECRET_LENGTH = 32
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_LOG_FORMATS = ("console", "json")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_WELL_KNOWN = {
    "DATABASE_URL": ("database", "url"),
    "REDIS_URL": ("redis", "url"),
    "SECRET_KEY_BASE": ("auth", "secret_key_base"),
    "PORT": ("server", "port"),
}
# Keys whose values must never appear in an error message or a TOML file.
_SECRET_KEYS = frozenset({("auth", "secret_key_base")})
# Computed at load time; not settable from TOML or the environment.
_DERIVED = {"derived": True}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The HTTP listener."""

    host: str
    port: int
    shutdown_timeout: float
    url_host: str
    """Host name clients use to reach us; origin checks compare against it."""


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """Actor runtime defaults: call timeout and restart intensity."""

    call_timeout: float
    max_restarts: int
    max_seconds: float
    gc_tuning: bool
    """Freeze start-up objects and collect garbage less often while serving."""


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Log level (``debug`` … ``critical``) and format (``console`` or ``json``)."""

    level: str
    format: str


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Demo data and channels."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """PostgreSQL. An empty ``url`` means an embedded server in ``data_dir``."""

    url: str
    data_dir: str
    pool_min: int
    pool_max: int
    migrate_on_start: bool


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Redis. An empty ``url`` means local PubSub only (a single node)."""

    url: str


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Tokens and password hashing.

    ``secret_generated`` is true when ``secret_key_base`` was generated at load
    time (dev/test only): tokens will not survive a restart.
    """

    secret_key_base: str = field(repr=False)
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int
    password_time_cost: int
    password_memory_cost: int
    secret_generated: bool = field(default=False, metadata=_DERIVED)


@dataclass(frozen=True, slots=True)
class SocketSettings:
    """Phoenix sockets. An empty ``check_origin`` allows every origin."""

    check_origin: tuple[str, ...]
    max_frame_size: int
    idle_timeout: float
    max_channels: int
    longpoll_window: float
    longpoll_pubsub_timeout: float


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """HTTP limits. Rate limits are requests per minute."""

    max_body_size: int
    rate_limit_per_ip: int
    rate_limit_per_user: int


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """The admin endpoint (live actor tree)."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything BitNexus reads from configuration, frozen.

    Attributes:
        env: the environment name (``dev``, ``test``, ``prod``, …).
        root: the project root (the parent of the config directory).
    """

    env: str
    root: Path
    server: ServerSettings
    runtime: RuntimeSettings
    log: LogSettings
    demo: DemoSettings
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    socket: SocketSettings
    http: HttpSettings
    admin: AdminSettings

    def resolve_path(self, path: str | Path) -> Path:
        """Resolve a path setting (e.g. ``database.data_dir``) against :attr:`root`.

        Example::

            data_dir = settings.resolve_path(settings.database.data_dir)
        """
        return self.root / Path(path).expanduser()

    def override(self, changes: Mapping[str, Any]) -> Settings:
        """Return a copy with ``"section.key"`` values replaced, type-checked.

        Args:
            changes: e.g. ``{"server.port": 0, "demo.enabled": False}``.

        Raises:
            ConfigError: an unknown key or a value of the wrong type.

        Example::

            settings = load_settings("test").override({"server.port": 0})
        """
        tree = _as_tree(self)
        for dotted, value in changes.items():
            section, _, key = dotted.partition(".")
            typ = _field_type(section, key, origin=dotted)
            tree[section][key] = _check_value(section, key, typ, value, origin=dotted)
        if "auth.secret_key_base" in changes:
            tree["auth"]["secret_generated"] = False
        return _build(self.env, self.root, tree)


_SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Settings)[f.name]
    for f in dataclasses.fields(Settings)
    if f.name not in ("env", "root")
}


def load_settings(
    env: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
) -> Settings:
    """Build the settings for one environment.

    Args:
        env: environment name; defaults to ``BITNEXUS_ENV``, then ``"dev"``.
        environ: the environment variables to read; defaults to ``os.environ``.
            Pass a dict in tests to stay independent of the real environment.
        config_dir: where the TOML files are; defaults to ``BITNEXUS_CONFIG_DIR``,
            then ``./config`` (if it has a ``base.toml``), then the repository's
            ``config/``.

    Returns:
        The frozen settings.

    Raises:
        ConfigError: a missing file or key, an unknown key, a value that does not
            cast, or a missing/short secret where one is required.

    Example::

        settings = load_settings("prod", environ={"SECRET_KEY_BASE": "x" * 64})
        assert settings.server.host == "0.0.0.0"
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get(f"{_ENV_PREFIX}ENV") or _DEFAULT_ENV
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", env):
        raise ConfigError(f"invalid environment name {env!r}: use lowercase letters and digits")
    config_dir = _resolve_config_dir(config_dir, environ)

    base_file = config_dir / "base.toml"
    env_file = config_dir / f"{env}.toml"
    tree = _read_toml(base_file)
    _check_schema(tree, str(base_file), complete=True)
    if not env_file.is_file():
        raise ConfigError(f"no settings file for environment {env!r}: {env_file} does not exist")
    overrides = _read_toml(env_file)
    _check_schema(overrides, str(env_file), complete=False)
    for section, values in overrides.items():
        tree[section].update(values)

    for var, (section, key) in _WELL_KNOWN.items():
        if var in environ:
            tree[section][key] = _cast_env(section, key, environ[var], origin=var)
    # Only SECTION__KEY variables are settings; BITNEXUS_ENV, BITNEXUS_CONFIG_DIR
    # and other single-part names are left to whoever reads them.
    for var, raw in environ.items():
        if var.startswith(_ENV_PREFIX) and "__" in var:
            section, _, key = var[len(_ENV_PREFIX) :].lower().partition("__")
            tree[section][key] = _cast_env(section, key, raw, origin=var)

    tree["auth"]["secret_generated"] = False
    if not tree["auth"]["secret_key_base"]:
        if env not in _SECRET_OPTIONAL_ENVS:
            raise ConfigError(
                f"SECRET_KEY_BASE is not set; environment {env!r} requires it "
                f"(at least {_MIN_SECRET_LENGTH} characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`)"
            )
        tree["auth"]["secret_key_base"] = secrets.token_urlsafe(64)
        tree["auth"]["secret_generated"] = True
    return _build(env, config_dir.resolve().parent, tree)


def _resolve_config_dir(config_dir: Path | None, environ: Mapping[str, str]) -> Path:
    if config_dir is not None:
        candidates = [Path(config_dir)]
    elif f"{_ENV_PREFIX}CONFIG_DIR" in environ:
        candidates = [Path(environ[f"{_ENV_PREFIX}CONFIG_DIR"])]
    else:
        candidates = [Path.cwd() / "config", Path(__file__).resolve().parents[2] / "config"]
    for candidate in candidates:
        if (candidate / "base.toml").is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"no config directory with a base.toml found (tried {tried}); "
        f"pass config_dir or set {_ENV_PREFIX}CONFIG_DIR"
    )


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def _check_schema(tree: dict[str, Any], origin: str, *, complete: bool) -> None:
    """Type-check a parsed TOML file in place; ``complete`` requires every key."""
    for section, values in tree.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{section}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: {section} must be a [{section}] table")
        for key, value in values.items():
            typ = _field_type(section, key, origin=origin)
            if (section, key) in _SECRET_KEYS and value:
                raise ConfigError(
                    f"{origin}: {section}.{key} must not be stored in a file; "
                    "set it in the environment (SECRET_KEY_BASE)"
                )
            values[key] = _check_value(section, key, typ, value, origin=origin)
    if complete:
        for section, cls in _SECTIONS.items():
            for f in dataclasses.fields(cls):
                if not f.metadata.get("derived") and f.name not in tree.get(section, {}):
                    raise ConfigError(f"{origin}: missing setting {section}.{f.name}")


def _field_type(section: str, key: str, *, origin: str) -> Any:
    cls = _SECTIONS.get(section)
    if cls is not None:
        for f in dataclasses.fields(cls):
            if f.name == key and not f.metadata.get("derived"):
                return typing.get_type_hints(cls)[key]
    raise ConfigError(f"{origin}: unknown setting {section}.{key}")


def _check_value(section: str, key: str, typ: Any, value: Any, *, origin: str) -> Any:
    """Accept a typed (TOML or Python) value for ``typ``, or raise ConfigError."""
    ok: bool
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif typ is str:
        ok = isinstance(value, str)
    else:  # tuple[str, ...]
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if not ok:
        shown = "***" if (section, key) in _SECRET_KEYS else repr(value)
        raise ConfigError(f"{origin}: {section}.{key} must be {_type_name(typ)}, got {shown}")
    return value


def _cast_env(section: str, key: str, raw: str, *, origin: str) -> Any:
    """Cast an environment string to the key's type, or raise ConfigError."""
    typ = _field_type(section, key, origin=origin)
    text = raw.strip()
    try:
        if typ is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if typ is int:
            return int(text)
        if typ is float:
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
        if typ is str:
            return raw
        return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError:
        shown = "***" if (section, key) in _SECRET_KEYS else repr(raw)
        raise ConfigError(f"{origin}={shown}: {section}.{key} must be {_type_name(typ)}") from None


def _type_name(typ: Any) -> str:
    if typ is bool:
        return "a boolean (1/true/yes/on or 0/false/no/off)"
    if typ is int:
        return "an integer"
    if typ is float:
        return "a number"
    if typ is str:
        return "a string"
    return "a list of strings (comma-separated in the environment)"


def _validate(tree: dict[str, dict[str, Any]]) -> None:
    """Reject values of the right type but impossible meaning."""
    problems: list[str] = []
    server, db, log = tree["server"], tree["database"], tree["log"]
    if not 0 <= server["port"] <= 65535:
        problems.append(f"server.port must be 0..65535, got {server['port']}")
    if log["level"] not in _LOG_LEVELS:
        problems.append(f"log.level must be one of {', '.join(_LOG_LEVELS)}, got {log['level']!r}")
    if log["format"] not in _LOG_FORMATS:
        problems.append(f"log.format must be one of {', '.join(_LOG_FORMATS)}")
    if not 1 <= db["pool_min"] <= db["pool_max"]:
        problems.append(
            f"database.pool_min/pool_max must satisfy 1 <= min <= max, "
            f"got {db['pool_min']}/{db['pool_max']}"
        )
    if len(tree["auth"]["secret_key_base"]) < _MIN_SECRET_LENGTH:
        problems.append(
            f"auth.secret_key_base (SECRET_KEY_BASE) is too short: "
            f"at least {_MIN_SECRET_LENGTH} characters"
        )
    for section, key, minimum in _NON_NEGATIVE:
        if tree[section][key] < minimum:
            problems.append(f"{section}.{key} must be >= {minimum}, got {tree[section][key]}")
    if problems:
        raise ConfigError("invalid settings: " + "; ".join(problems))


# (section, key, smallest allowed value) for numbers that cannot be negative or zero.
_NON_NEGATIVE = [
    ("server", "shutdown_timeout", 0),
    ("runtime", "call_timeout", 0.001),
    ("runtime", "max_restarts", 0),
    ("runtime", "max_seconds", 0.001),
    ("auth", "access_ttl", 1),
    ("auth", "refresh_ttl", 1),
    ("auth", "password_time_cost", 1),
    ("auth", "password_memory_cost", 8),
    ("socket", "max_frame_size", 1),
    ("socket", "idle_timeout", 0.001),
    ("socket", "max_channels", 1),
    ("socket", "longpoll_window", 0.001),
    ("socket", "longpoll_pubsub_timeout", 0.001),
    ("http", "max_body_size", 1),
    ("http", "rate_limit_per_ip", 1),
    ("http", "rate_limit_per_user", 1),
]


def _build(env: str, root: Path, tree: dict[str, dict[str, Any]]) -> Settings:
    _validate(tree)
    sections = {name: cls(**tree[name]) for name, cls in _SECTIONS.items()}
    return Settings(env=env, root=root, **sections)


def _as_tree(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        name: {f.name: getattr(getattr(settings, name), f.name) for f in dataclasses.fields(cls)}
        for name, cls in _SECTIONS.items()
    }
