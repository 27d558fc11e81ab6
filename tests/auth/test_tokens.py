from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bitnexus.auth.roles import Role
from bitnexus.auth.tokens import (
    Claims,
    SigningKey,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    TokenNotYetValid,
    Tokens,
    hash_refresh_token,
    new_refresh_token,
    remaining_subprotocols,
    token_from_authorization,
    token_from_subprotocol,
)
from bitnexus.exceptions import ConfigError, Misuse, Refused

SECRET = "test-secret-0123456789abcdef-0123456789"  # 39 bytes
OTHER_SECRET = "another-secret-0123456789abcdef-98765"
ISSUER = "bitnexus-test"
AUDIENCE = "bitnexus-api"


def make_tokens(*keys: SigningKey, **overrides: Any) -> Tokens:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "access_ttl": 900,
    }
    options.update(overrides)
    return Tokens(keys=list(keys) or [SigningKey("k1", SECRET)], **options)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def unb64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def valid_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": "42",
        "role": "user",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j-1",
    }
    claims.update(changes)
    return claims


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def rejected(tokens: Tokens, token: str | None) -> TokenError:
    with pytest.raises(TokenError) as info:
        tokens.verify_access(token)
    return info.value


@pytest.fixture(scope="module")
def rsa_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_public_pem(rsa_private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(rsa_private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- issue and verify -------------------------------------------------------------------------


def test_issued_token_verifies_to_the_same_subject_role_and_times() -> None:
    tokens = make_tokens()
    token = tokens.issue_access("42", Role.AFFILIATE, now=time.time())
    claims = tokens.verify_access(token)
    assert isinstance(claims, Claims)
    assert (claims.subject, claims.role) == ("42", Role.AFFILIATE)
    assert claims.expires_at - claims.issued_at == 900
    assert abs(claims.issued_at - time.time()) < 5
    assert claims.raw["iss"] == ISSUER and claims.raw["aud"] == AUDIENCE


def test_issued_token_carries_every_required_claim_and_a_kid_header() -> None:
    token = make_tokens().issue_access("42", "user", now=1_000_000)
    header_segment, payload_segment, _ = token.split(".")
    assert unb64url_json(header_segment) == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    payload = unb64url_json(payload_segment)
    assert set(payload) == {"sub", "role", "iss", "aud", "iat", "nbf", "exp", "jti"}
    assert payload["iat"] == payload["nbf"] == 1_000_000
    assert payload["exp"] == 1_000_900


def test_each_token_gets_a_fresh_jti() -> None:
    tokens = make_tokens()
    first = tokens.verify_access(tokens.issue_access("42", Role.USER))
    second = tokens.verify_access(tokens.issue_access("42", Role.USER))
    assert first.jti != second.jti


def test_extra_claims_are_signed_and_returned() -> None:
    tokens = make_tokens()
    claims = tokens.verify_access(tokens.issue_access("42", Role.USER, extra={"sid": "s-9"}))
    assert claims.raw["sid"] == "s-9"


@pytest.mark.parametrize("reserved", ["sub", "role", "exp", "aud", "iss", "jti"])
def test_extra_claims_cannot_replace_reserved_claims(reserved: str) -> None:
    with pytest.raises(Misuse):
        make_tokens().issue_access("42", Role.USER, extra={reserved: "x"})


@pytest.mark.parametrize("subject", [42, "", None])
def test_issuing_for_a_non_string_or_empty_subject_is_a_misuse(subject: Any) -> None:
    with pytest.raises(Misuse):
        make_tokens().issue_access(subject, Role.USER)


def test_issuing_with_an_unknown_role_is_a_misuse() -> None:
    with pytest.raises(Misuse):
        make_tokens().issue_access("42", "superuser")


# --- missing, expired, not yet valid ----------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_is_rejected_with_missing_reason(token: str | None) -> None:
    error = rejected(make_tokens(), token)
    assert isinstance(error, TokenMissing)
    assert (error.reason, error.status) == ("missing", 401)
    assert isinstance(error, Refused)


def test_expired_token_is_rejected_with_expired_reason() -> None:
    tokens = make_tokens()
    token = tokens.issue_access("42", Role.USER, now=time.time() - 3600)
    error = rejected(tokens, token)
    assert isinstance(error, TokenExpired)
    assert (error.reason, error.status) == ("expired", 401)


def test_recently_expired_token_is_accepted_within_the_leeway() -> None:
    tokens = make_tokens(leeway=60)
    token = tokens.issue_access("42", Role.USER, now=time.time() - 900 - 10)
    assert tokens.verify_access(token).subject == "42"


def test_expired_token_with_a_forged_signature_is_invalid_not_expired() -> None:
    forger = make_tokens(SigningKey("k1", OTHER_SECRET))
    token = forger.issue_access("42", Role.USER, now=time.time() - 3600)
    assert rejected(make_tokens(), token).reason == "invalid"


def test_token_not_yet_valid_is_rejected_as_invalid() -> None:
    tokens = make_tokens()
    token = tokens.issue_access("42", Role.USER, now=time.time() + 3600)
    error = rejected(tokens, token)
    assert isinstance(error, TokenNotYetValid) and isinstance(error, TokenInvalid)
    assert error.reason == "invalid"


# --- forgeries --------------------------------------------------------------------------------


def test_alg_none_token_is_rejected_as_invalid() -> None:
    header = {"alg": "none", "kid": "k1", "typ": "JWT"}
    token = f"{b64url_json(header)}.{b64url_json(valid_claims(role='admin'))}."
    assert rejected(make_tokens(), token).reason == "invalid"


def test_hs256_token_signed_with_the_rsa_public_key_is_rejected_by_an_rs256_key(
    rsa_private_pem: bytes, rsa_public_pem: bytes
) -> None:
    tokens = make_tokens(SigningKey("rsa", rsa_private_pem, "RS256"))
    assert tokens.verify_access(tokens.issue_access("42", Role.USER)).subject == "42"
    forged = hs256_by_hand(
        {"alg": "HS256", "kid": "rsa", "typ": "JWT"}, valid_claims(role="admin"), rsa_public_pem
    )
    assert rejected(tokens, forged).reason == "invalid"


def test_rs256_token_is_rejected_where_hs256_is_expected(rsa_private_pem: bytes) -> None:
    forged = jwt.encode(
        valid_claims(role="admin"),
        rsa_private_pem,
        algorithm="RS256",
        headers={"kid": "k1", "typ": "JWT"},
    )
    assert rejected(make_tokens(), forged).reason == "invalid"


def test_token_signed_with_another_secret_under_our_kid_is_invalid() -> None:
    forger = make_tokens(SigningKey("k1", OTHER_SECRET))
    assert rejected(make_tokens(), forger.issue_access("42", Role.ADMIN)).reason == "invalid"


def test_tampered_payload_with_the_original_signature_is_invalid() -> None:
    tokens = make_tokens()
    header, payload, signature = tokens.issue_access("42", Role.USER).split(".")
    claims = unb64url_json(payload)
    claims["role"] = "admin"
    tampered = f"{header}.{b64url_json(claims)}.{signature}"
    assert rejected(tokens, tampered).reason == "invalid"


def test_token_for_another_audience_is_invalid() -> None:
    other = make_tokens(audience="some-other-api")
    assert rejected(make_tokens(), other.issue_access("42", Role.USER)).reason == "invalid"


def test_token_from_another_issuer_is_invalid() -> None:
    other = make_tokens(issuer="someone-else")
    assert rejected(make_tokens(), other.issue_access("42", Role.USER)).reason == "invalid"


def test_token_with_an_unknown_kid_is_invalid() -> None:
    stranger = make_tokens(SigningKey("k9", SECRET))
    assert rejected(make_tokens(), stranger.issue_access("42", Role.USER)).reason == "invalid"


def test_token_without_a_kid_is_invalid_even_when_signed_with_our_secret() -> None:
    token = jwt.encode(valid_claims(), SECRET, algorithm="HS256")
    assert rejected(make_tokens(), token).reason == "invalid"


@pytest.mark.parametrize("claim", ["exp", "sub", "nbf", "iat", "iss", "aud", "jti"])
def test_token_missing_a_required_claim_is_invalid(claim: str) -> None:
    claims = valid_claims()
    del claims[claim]
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k1"})
    assert rejected(make_tokens(), token).reason == "invalid"


@pytest.mark.parametrize("role", ["superuser", None, ["admin"]])
def test_token_with_an_unknown_role_is_invalid(role: Any) -> None:
    token = jwt.encode(valid_claims(role=role), SECRET, algorithm="HS256", headers={"kid": "k1"})
    assert rejected(make_tokens(), token).reason == "invalid"


def test_token_with_a_numeric_subject_is_invalid() -> None:
    token = jwt.encode(valid_claims(sub=42), SECRET, algorithm="HS256", headers={"kid": "k1"})
    assert rejected(make_tokens(), token).reason == "invalid"


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "....", "Bearer x.y.z", "é.é.é"])
def test_malformed_token_is_invalid(garbage: str) -> None:
    assert rejected(make_tokens(), garbage).reason == "invalid"


# --- key rotation -----------------------------------------------------------------------------


def test_token_signed_by_the_old_key_verifies_while_the_old_key_is_listed() -> None:
    old = SigningKey("2024-01", SECRET)
    new = SigningKey("2024-06", OTHER_SECRET)
    old_token = make_tokens(old).issue_access("42", Role.USER)
    rotated = make_tokens(new, old)
    assert rotated.verify_access(old_token).subject == "42"
    new_token = rotated.issue_access("42", Role.USER)
    assert unb64url_json(new_token.split(".")[0])["kid"] == "2024-06"
    assert make_tokens(new).verify_access(new_token).subject == "42"


def test_token_signed_by_the_old_key_is_invalid_once_the_old_key_is_removed() -> None:
    old = SigningKey("2024-01", SECRET)
    new = SigningKey("2024-06", OTHER_SECRET)
    old_token = make_tokens(old).issue_access("42", Role.USER)
    assert rejected(make_tokens(new), old_token).reason == "invalid"


def test_a_public_key_verifies_tokens_of_its_private_key(
    rsa_private_pem: bytes, rsa_public_pem: bytes
) -> None:
    token = make_tokens(SigningKey("rsa", rsa_private_pem, "RS256")).issue_access("7", "admin")
    verifier = make_tokens(SigningKey("hs", SECRET), SigningKey("rsa", rsa_public_pem, "RS256"))
    assert verifier.verify_access(token).role == Role.ADMIN


# --- configuration ----------------------------------------------------------------------------


def test_hs256_secret_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ConfigError, match="32"):
        make_tokens(SigningKey("k1", "x" * 31))
    assert make_tokens(SigningKey("k1", b"x" * 32)).issue_access("1", Role.USER)


def test_rsa_pem_as_hmac_secret_is_refused(rsa_public_pem: bytes) -> None:
    with pytest.raises(ConfigError):
        make_tokens(SigningKey("k1", rsa_public_pem, "HS256"))


@pytest.mark.parametrize("algorithm", ["none", "HS1", "hs256"])
def test_unsupported_algorithm_is_refused(algorithm: str) -> None:
    with pytest.raises(ConfigError):
        make_tokens(SigningKey("k1", SECRET, algorithm))


def test_a_verify_only_public_key_cannot_be_the_signing_key(rsa_public_pem: bytes) -> None:
    with pytest.raises(ConfigError, match="first key"):
        make_tokens(SigningKey("rsa", rsa_public_pem, "RS256"))


@pytest.mark.parametrize(
    "overrides",
    [{"keys": []}, {"access_ttl": 0}, {"leeway": -1}, {"issuer": ""}, {"audience": ""}],
)
def test_impossible_settings_are_refused(overrides: dict[str, Any]) -> None:
    options: dict[str, Any] = {
        "keys": [SigningKey("k1", SECRET)],
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "access_ttl": 900,
    }
    options.update(overrides)
    with pytest.raises(ConfigError):
        Tokens(**options)


def test_duplicate_key_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="duplicate"):
        make_tokens(SigningKey("k1", SECRET), SigningKey("k1", OTHER_SECRET))


def test_signing_key_repr_does_not_show_the_secret() -> None:
    assert SECRET not in repr(SigningKey("k1", SECRET))


# --- refresh tokens ---------------------------------------------------------------------------


def test_refresh_token_comes_with_the_digest_to_store() -> None:
    token, digest = new_refresh_token()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert hash_refresh_token(token) == digest
    assert digest != token and len(token) >= 43


def test_refresh_tokens_are_never_repeated() -> None:
    assert len({new_refresh_token()[0] for _ in range(100)}) == 100


# --- where clients put the token --------------------------------------------------------------


def test_phoenix_auth_token_subprotocol_is_decoded() -> None:
    header = "phoenix,base64url.bearer.phx.czNjcjN0LXRva2Vu"
    assert token_from_subprotocol(header) == "s3cr3t-token"
    assert remaining_subprotocols(header) == ["phoenix"]


def test_subprotocol_token_uses_the_standard_base64_alphabet() -> None:
    token = "a?>b~~"  # encodes to "YT8+Yn5+" — contains "+"
    encoded = base64.b64encode(token.encode()).decode().rstrip("=")
    assert "+" in encoded
    header = f"phoenix, base64url.bearer.phx.{encoded}"
    assert token_from_subprotocol(header) == token


def test_a_real_jwt_survives_the_subprotocol_round_trip() -> None:
    tokens = make_tokens()
    jwt_token = tokens.issue_access("42", Role.USER)
    encoded = base64.b64encode(jwt_token.encode()).decode().replace("=", "")
    header = f"phoenix,base64url.bearer.phx.{encoded}"
    assert tokens.verify_access(token_from_subprotocol(header)).subject == "42"


@pytest.mark.parametrize("header", [None, "", "phoenix", "phoenix, chat"])
def test_no_subprotocol_token_gives_none(header: str | None) -> None:
    assert token_from_subprotocol(header) is None


def test_two_subprotocol_tokens_give_none_and_are_left_in_place() -> None:
    header = "phoenix,base64url.bearer.phx.YQ,base64url.bearer.phx.Yg"
    assert token_from_subprotocol(header) is None
    assert remaining_subprotocols(header) == [
        "phoenix",
        "base64url.bearer.phx.YQ",
        "base64url.bearer.phx.Yg",
    ]


@pytest.mark.parametrize("payload", ["not*base64", "czNjc-N0", "/w"])
def test_undecodable_subprotocol_token_is_invalid(payload: str) -> None:
    with pytest.raises(TokenInvalid):
        token_from_subprotocol(f"phoenix,base64url.bearer.phx.{payload}")


def test_remaining_subprotocols_keeps_order_and_trims_whitespace() -> None:
    header = " chat , base64url.bearer.phx.czNjcjN0LXRva2Vu ,, phoenix "
    assert remaining_subprotocols(header) == ["chat", "phoenix"]
    assert remaining_subprotocols(None) == []


def test_bearer_token_is_taken_from_the_authorization_header() -> None:
    assert token_from_authorization("Bearer abc.def.ghi") == "abc.def.ghi"
    assert token_from_authorization("bearer   abc.def.ghi ") == "abc.def.ghi"
    assert token_from_authorization(None) is None
    assert token_from_authorization("  ") is None


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "abc.def.ghi"])
def test_authorization_header_with_another_scheme_is_invalid(header: str) -> None:
    with pytest.raises(TokenInvalid):
        token_from_authorization(header)


# --- the verified-token cache ---------------------------------------------------------------


def test_a_cached_token_is_still_refused_once_it_expires() -> None:
    tokens = make_tokens(access_ttl=900)
    token = tokens.issue_access("7", "user", now=time.time() - 900 + 1.0)
    assert tokens.verify_access(token).subject == "7"  # verified and cached
    time.sleep(1.1)
    with pytest.raises(TokenExpired):
        tokens.verify_access(token)


def test_a_tampered_copy_of_a_cached_token_is_still_refused() -> None:
    tokens = make_tokens()
    token = tokens.issue_access("7", "user")
    tokens.verify_access(token)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        tokens.verify_access(f"{head}.{forged_payload}.{signature}")
