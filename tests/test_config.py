from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from bitnexus.config import Settings, load_settings
from bitnexus.exceptions import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"
SECRET = "s" * 48


def load(env: str | None = None, **environ: str) -> Settings:
    """Settings from the repository's config files and only the given variables."""
    return load_settings(env, environ=environ, config_dir=REPO_CONFIG)


def test_dev_is_the_default_environment_with_demo_and_migrations_on() -> None:
    settings = load()
    assert settings.env == "dev"
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 4000
    assert settings.demo.enabled is True
    assert settings.database.migrate_on_start is True
    assert settings.log.format == "console"


def test_bitnexus_env_variable_chooses_the_environment() -> None:
    assert load(BITNEXUS_ENV="test").env == "test"
    assert load("dev", BITNEXUS_ENV="test").env == "dev"


def test_base_defaults_reach_every_section() -> None:
    settings = load("dev")
    assert settings.server.shutdown_timeout == 15.0
    assert settings.server.url_host == "localhost"
    assert (settings.runtime.call_timeout, settings.runtime.max_restarts) == (5.0, 3)
    assert settings.database.url == ""
    assert settings.database.data_dir == ".bitnexus/pgdata"
    assert (settings.database.pool_min, settings.database.pool_max) == (2, 10)
    assert settings.redis.url == ""
    assert settings.auth.issuer == "bitnexus"
    assert settings.auth.audience == "bitnexus-api"
    assert (settings.auth.access_ttl, settings.auth.refresh_ttl) == (900, 1209600)
    assert settings.socket.check_origin == ("//localhost", "//127.0.0.1")
    assert settings.socket.max_frame_size == 1048576
    assert settings.http.rate_limit_per_ip == 600
    assert settings.admin.enabled is True


def test_test_environment_is_quiet_and_hashes_passwords_cheaply() -> None:
    settings = load("test")
    assert settings.log.level == "warning"
    assert settings.demo.enabled is True
    assert settings.database.migrate_on_start is True
    assert settings.auth.password_time_cost == 1
    assert settings.auth.password_memory_cost == 8192


def test_prod_binds_all_interfaces_logs_json_and_skips_demo_and_migrations() -> None:
    settings = load("prod", SECRET_KEY_BASE=SECRET)
    assert settings.server.host == "0.0.0.0"
    assert settings.log.format == "json"
    assert settings.demo.enabled is False
    assert settings.database.migrate_on_start is False
    assert settings.auth.password_time_cost == 3
    assert settings.auth.secret_key_base == SECRET
    assert settings.auth.secret_generated is False


def test_prod_without_secret_key_base_refuses_to_load() -> None:
    with pytest.raises(ConfigError, match=r"SECRET_KEY_BASE"):
        load("prod")


def test_dev_without_secret_generates_a_long_random_one_and_flags_it() -> None:
    first, second = load("dev"), load("dev")
    assert first.auth.secret_generated is True
    assert len(first.auth.secret_key_base) >= 64
    assert first.auth.secret_key_base != second.auth.secret_key_base


def test_secret_shorter_than_32_characters_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match=r"at least 32") as info:
        load("dev", SECRET_KEY_BASE="short-secret-value")
    assert "short-secret-value" not in str(info.value)


def test_secret_does_not_appear_in_the_settings_repr() -> None:
    assert SECRET not in repr(load("dev", SECRET_KEY_BASE=SECRET))


def test_environment_override_is_cast_to_the_type_of_the_default() -> None:
    settings = load(
        "dev",
        BITNEXUS_SERVER__PORT="4001",
        BITNEXUS_SERVER__SHUTDOWN_TIMEOUT="2.5",
        BITNEXUS_DEMO__ENABLED="off",
        BITNEXUS_ADMIN__ENABLED="Yes",
        BITNEXUS_LOG__LEVEL="debug",
        BITNEXUS_SOCKET__CHECK_ORIGIN="//a.example, //b.example",
    )
    assert settings.server.port == 4001
    assert settings.server.shutdown_timeout == 2.5
    assert settings.demo.enabled is False
    assert settings.admin.enabled is True
    assert settings.log.level == "debug"
    assert settings.socket.check_origin == ("//a.example", "//b.example")


def test_empty_list_override_allows_every_origin() -> None:
    assert load("dev", BITNEXUS_SOCKET__CHECK_ORIGIN="").socket.check_origin == ()


def test_value_that_does_not_cast_names_the_variable_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"BITNEXUS_SERVER__PORT='forty'.*server.port"):
        load("dev", BITNEXUS_SERVER__PORT="forty")
    with pytest.raises(ConfigError, match=r"BITNEXUS_DEMO__ENABLED='maybe'.*boolean"):
        load("dev", BITNEXUS_DEMO__ENABLED="maybe")


def test_unknown_key_in_the_environment_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"server.prot"):
        load("dev", BITNEXUS_SERVER__PROT="4001")
    with pytest.raises(ConfigError, match=r"nosuch.port"):
        load("dev", BITNEXUS_NOSUCH__PORT="4001")


def test_derived_secret_flag_cannot_be_set_from_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"auth.secret_generated"):
        load("dev", BITNEXUS_AUTH__SECRET_GENERATED="false")


def test_well_known_variables_map_to_their_settings() -> None:
    settings = load(
        "dev",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        PORT="8080",
    )
    assert settings.database.url == "postgresql://postgres@127.0.0.1:5432/test"
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.server.port == 8080


def test_prefixed_variable_beats_the_well_known_one() -> None:
    assert load("dev", PORT="8080", BITNEXUS_SERVER__PORT="8081").server.port == 8081


def test_bad_port_variable_names_port() -> None:
    with pytest.raises(ConfigError, match=r"PORT='http'"):
        load("dev", PORT="http")


def test_out_of_range_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"server.port must be 0..65535"):
        load("dev", PORT="70000")
    with pytest.raises(ConfigError, match=r"pool_min"):
        load("dev", BITNEXUS_DATABASE__POOL_MIN="20")
    with pytest.raises(ConfigError, match=r"log.level"):
        load("dev", BITNEXUS_LOG__LEVEL="chatty")


def test_settings_are_frozen() -> None:
    settings = load("dev")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.server.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.env = "prod"  # type: ignore[misc]


def test_override_returns_a_checked_copy() -> None:
    settings = load("dev")
    changed = settings.override({"server.port": 0, "demo.enabled": False})
    assert (changed.server.port, changed.demo.enabled) == (0, False)
    assert (settings.server.port, settings.demo.enabled) == (4000, True)
    with pytest.raises(ConfigError, match=r"server.port must be an integer"):
        settings.override({"server.port": "80"})
    with pytest.raises(ConfigError, match=r"server.nope"):
        settings.override({"server.nope": 1})


def test_root_is_the_parent_of_the_config_directory() -> None:
    settings = load("dev")
    assert settings.root == REPO_CONFIG.parent
    assert settings.resolve_path(settings.database.data_dir) == (
        REPO_CONFIG.parent / ".bitnexus" / "pgdata"
    )


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A writable copy of the repository's config directory."""
    target = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, target)
    return target


def test_config_dir_comes_from_bitnexus_config_dir(config_dir: Path) -> None:
    (config_dir / "staging.toml").write_text('[server]\nurl_host = "staging.example"\n')
    settings = load_settings(
        "staging",
        environ={"BITNEXUS_CONFIG_DIR": str(config_dir), "SECRET_KEY_BASE": SECRET},
    )
    assert settings.server.url_host == "staging.example"
    assert settings.root == config_dir.parent


def test_config_dir_falls_back_to_cwd_config(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_dir / "dev.toml").write_text("[server]\nport = 4555\n")
    monkeypatch.chdir(config_dir.parent)
    assert load_settings(environ={}).server.port == 4555


def test_missing_config_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"base.toml"):
        load_settings(environ={}, config_dir=tmp_path)


def test_environment_without_a_toml_file_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"staging"):
        load("staging", SECRET_KEY_BASE=SECRET)


def test_environment_other_than_dev_or_test_needs_a_secret(config_dir: Path) -> None:
    (config_dir / "staging.toml").write_text("")
    with pytest.raises(ConfigError, match=r"SECRET_KEY_BASE"):
        load_settings("staging", environ={}, config_dir=config_dir)


def test_secret_in_a_toml_file_is_refused(config_dir: Path) -> None:
    (config_dir / "dev.toml").write_text(f'[auth]\nsecret_key_base = "{SECRET}"\n')
    with pytest.raises(ConfigError, match=r"must not be stored in a file") as info:
        load_settings("dev", environ={}, config_dir=config_dir)
    assert SECRET not in str(info.value)


def test_unknown_key_in_a_toml_file_names_the_file_and_key(config_dir: Path) -> None:
    (config_dir / "dev.toml").write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"dev.toml: unknown setting server.prot"):
        load_settings("dev", environ={}, config_dir=config_dir)


def test_wrongly_typed_toml_value_names_the_key(config_dir: Path) -> None:
    (config_dir / "dev.toml").write_text('[server]\nport = "4000"\n')
    with pytest.raises(ConfigError, match=r"server.port must be an integer, got '4000'"):
        load_settings("dev", environ={}, config_dir=config_dir)


def test_base_file_missing_a_key_is_an_error(config_dir: Path) -> None:
    base = config_dir / "base.toml"
    base.write_text(base.read_text().replace("url_host", "# url_host"))
    with pytest.raises(ConfigError, match=r"missing setting server.url_host"):
        load_settings("dev", environ={}, config_dir=config_dir)


def test_invalid_toml_is_reported_with_its_path(config_dir: Path) -> None:
    (config_dir / "dev.toml").write_text("[server\n")
    with pytest.raises(ConfigError, match=r"dev.toml: invalid TOML"):
        load_settings("dev", environ={}, config_dir=config_dir)


def test_non_finite_number_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"runtime.call_timeout must be a number"):
        load("dev", BITNEXUS_RUNTIME__CALL_TIMEOUT="nan")
