"""Access tokens (JWT), opaque refresh tokens, and where clients put them.

Access tokens are short-lived JWTs signed with the first of a list of
:class:`SigningKey`\\ s; every key in the list verifies, picked by the token's
``kid`` header, so keys can be rotated without logging anyone out. The
algorithm is always the one configured on that key, never the one the token
header names. Verification failures are :class:`TokenError`\\ s with a short
``reason`` (``"missing"``, ``"expired"``, ``"invalid"``) and HTTP status 401.

Refresh tokens are random strings; only their SHA-256 digest is stored.

Example::

    tokens = Tokens(
        keys=[SigningKey("2024-06", settings.jwt_secret)],
        issuer="bitnexus", audience="bitnexus-api", access_ttl=900,
    )
    token = tokens.issue_access("42", Role.USER)
    claims = tokens.verify_access(token)    # Claims(subject="42", role=Role.USER, ...)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from bitnexus.auth.roles import Role
from bitnexus.exceptions import ConfigError, Misuse, Refused

__all__ = [
    "AUTH_TOKEN_PREFIX",
    "Claims",
    "SigningKey",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenMissing",
    "TokenNotYetValid",
    "Tokens",
    "hash_refresh_token",
    "new_refresh_token",
    "remaining_subprotocols",
    "token_from_authorization",
    "token_from_subprotocol",
]

#: Prefix of the ``Sec-WebSocket-Protocol`` entry that carries the Phoenix JS
#: client's ``authToken`` (Phoenix 1.8).
AUTH_TOKEN_PREFIX = "base64url.bearer.phx."

_HMAC_ALGORITHMS = {"HS256", "HS384", "HS512"}
_ASYMMETRIC_ALGORITHMS = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
}  # fmt: skip
_RESERVED_CLAIMS = frozenset({"sub", "role", "iss", "aud", "iat", "nbf", "exp", "jti"})
_REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]


class TokenError(Refused):
    """A bearer token was refused. Answer 401 and show the client ``reason`` only.

    Attributes:
        reason: ``"missing"``, ``"expired"`` or ``"invalid"``; safe to send to
            the client. The message (``str(exc)``) has details for the log.
    """

    status = 401
    reason: str = "invalid"

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(f"token {self.reason}" + (f": {detail}" if detail else ""))


class TokenMissing(TokenError):
    """No token was sent (``None`` or empty). The client should log in."""

    reason = "missing"


class TokenExpired(TokenError):
    """The token was genuine but its ``exp`` has passed. The client should refresh."""

    reason = "expired"


class TokenInvalid(TokenError):
    """The token is not one we issued for this audience: bad signature, wrong
    algorithm, unknown ``kid``, wrong ``iss``/``aud``, missing claims, garbage."""

    reason = "invalid"


class TokenNotYetValid(TokenInvalid):
    """``nbf`` or ``iat`` lies in the future (beyond the leeway). Usually clock
    skew between nodes; raise ``leeway`` if it happens with genuine tokens."""


@dataclass(frozen=True)
class SigningKey:
    """One key of the rotation list.

    Attributes:
        kid: key id written into each token header and used to find the key.
        secret: the HMAC secret (HS*), or a PEM private key (signs and
            verifies) or public key (verifies only) for RS*/PS*/ES*/EdDSA.
            Always from configuration or the environment, never from code.
        algorithm: the only algorithm this key accepts.

    Example::

        SigningKey("2024-06", os.environ["BITNEXUS_JWT_SECRET"])
    """

    kid: str
    secret: bytes | str = field(repr=False)
    algorithm: str = "HS256"


@dataclass(frozen=True)
class Claims:
    """What a verified access token says.

    Attributes:
        subject: the user id (``sub``), as a string.
        role: the user's role when the token was issued.
        jti: unique token id.
        issued_at: ``iat``, seconds since the epoch.
        expires_at: ``exp``, seconds since the epoch.
        raw: every claim, including ``extra`` ones given at issue time.
    """

    subject: str
    role: Role
    jti: str
    issued_at: float
    expires_at: float
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)


@dataclass(frozen=True)
class _PreparedKey:
    kid: str
    algorithm: str
    signing_key: Any  # None for a verify-only (public) key
    verify_key: Any


def _prepare(key: SigningKey) -> _PreparedKey:
    if not isinstance(key.kid, str) or not key.kid:
        raise ConfigError(f"signing key id must be a non-empty string, got {key.kid!r}")
    alg = key.algorithm
    if alg not in _HMAC_ALGORITHMS | _ASYMMETRIC_ALGORITHMS:
        raise ConfigError(f"key {key.kid!r}: unsupported JWT algorithm {alg!r}")
    alg_obj = get_default_algorithms()[alg]
    try:
        prepared = alg_obj.prepare_key(key.secret)
    except (jwt.InvalidKeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"key {key.kid!r}: unusable {alg} key: {exc}") from None
    # pyjwt only warns about short keys; a short HMAC secret can be brute-forced
    # offline from any token, so we refuse to start with one.
    too_short = alg_obj.check_key_length(prepared)
    if too_short:
        raise ConfigError(f"key {key.kid!r}: {too_short}")
    if alg in _HMAC_ALGORITHMS:
        return _PreparedKey(key.kid, alg, prepared, prepared)
    if hasattr(prepared, "public_key"):  # a private key: derive the verifier
        return _PreparedKey(key.kid, alg, prepared, prepared.public_key())
    return _PreparedKey(key.kid, alg, None, prepared)


class Tokens:
    """Issues and verifies access tokens.

    Args:
        keys: rotation list. The first key signs; every key verifies tokens
            whose ``kid`` names it. To rotate: put the new key first, keep the
            old one until the last token it signed has expired, then drop it.
        issuer: ``iss`` written and required.
        audience: ``aud`` written and required.
        access_ttl: lifetime of an access token in seconds (e.g. 900).
        leeway: seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.

    Raises:
        ConfigError: no keys, duplicate kids, a first key that cannot sign,
            an HMAC secret shorter than the hash (32 bytes for HS256), an RSA
            key under 2048 bits, a PEM key given as HMAC secret, ``"none"``.

    Example::

        tokens = Tokens(keys=[SigningKey("k2", new), SigningKey("k1", old)],
                        issuer="bitnexus", audience="bitnexus-api", access_ttl=900)
    """

    def __init__(
        self,
        *,
        keys: Sequence[SigningKey],
        issuer: str,
        audience: str,
        access_ttl: float,
        leeway: float = 0,
    ) -> None:
        if not keys:
            raise ConfigError("Tokens needs at least one signing key")
        prepared = [_prepare(k) for k in keys]
        by_kid = {p.kid: p for p in prepared}
        if len(by_kid) != len(prepared):
            raise ConfigError(f"duplicate key ids in {[p.kid for p in prepared]}")
        if prepared[0].signing_key is None:
            raise ConfigError(f"the first key ({prepared[0].kid!r}) signs; it needs a private key")
        if not issuer or not audience:
            raise ConfigError("issuer and audience must be non-empty strings")
        if not access_ttl > 0:
            raise ConfigError(f"access_ttl must be positive seconds, got {access_ttl!r}")
        if not leeway >= 0:
            raise ConfigError(f"leeway must be >= 0 seconds, got {leeway!r}")
        self._signer = prepared[0]
        self._by_kid = by_kid
        # Verified tokens, so each is checked cryptographically once, not per request.
        self._verified: dict[str, Claims] = {}
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = float(access_ttl)
        self.leeway = float(leeway)

    def issue_access(
        self,
        subject: str,
        role: Role | str,
        *,
        extra: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """Sign a new access token.

        Args:
            subject: the user id, as a string.
            role: the user's role.
            extra: additional JSON-serialisable claims; may not replace
                reserved ones (sub, role, iss, aud, iat, nbf, exp, jti).
            now: issue time in epoch seconds (default: the current time).

        Returns:
            The compact JWT.

        Raises:
            Misuse: a non-string or empty subject, an unknown role, or an
                extra claim that collides with a reserved one.

        Example::

            token = tokens.issue_access("42", "affiliate", extra={"sid": "abc"})
        """
        if not isinstance(subject, str) or not subject:
            raise Misuse(f"subject must be a non-empty str (use str(user_id)), got {subject!r}")
        try:
            role = Role(role)
        except ValueError:
            raise Misuse(f"unknown role {role!r}") from None
        clashes = _RESERVED_CLAIMS & set(extra or ())
        if clashes:
            raise Misuse(f"extra claims may not replace reserved claims {sorted(clashes)}")
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = dict(extra or {})
        claims.update(
            sub=subject,
            role=role.value,
            iss=self.issuer,
            aud=self.audience,
            iat=issued,
            nbf=issued,
            exp=int(issued + self.access_ttl),
            jti=uuid.uuid4().hex,
        )
        signer = self._signer
        return jwt.encode(
            claims,
            signer.signing_key,
            algorithm=signer.algorithm,
            headers={"kid": signer.kid, "typ": "JWT"},
        )

    def verify_access(self, token: str | None) -> Claims:
        """Check a bearer token and return its claims.

        Args:
            token: the compact JWT, or ``None``/``""`` when the client sent none.

        Returns:
            The verified :class:`Claims`.

        Raises:
            TokenMissing: no token.
            TokenExpired: genuine but past ``exp`` (plus leeway).
            TokenNotYetValid: genuine but ``nbf``/``iat`` in the future.
            TokenInvalid: anything else.

        Example::

            try:
                claims = tokens.verify_access(bearer)
            except TokenError as exc:
                return json_response({"errors": {"token": exc.reason}}, status=exc.status)
        """
        if not token:
            raise TokenMissing()
        if not isinstance(token, str):
            raise TokenInvalid(f"token must be a string, got {type(token).__name__}")
        cached = self._verified.get(token)
        if cached is not None:
            # Only this exact string was verified; any change to it misses here.
            if time.time() < cached.expires_at + self.leeway:
                return cached
            del self._verified[token]
            raise TokenExpired()
        claims = self._verify(token)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"malformed: {exc}") from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenInvalid("no kid in header")
        key = self._by_kid.get(kid)
        if key is None:
            raise TokenInvalid(f"unknown kid {kid[:64]!r}")
        try:
            # The algorithm comes from our key, never from the header: this is
            # what stops "alg: none" and HS/RS key-confusion forgeries.
            payload = jwt.decode(
                token,
                key.verify_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "strict_aud": True,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.ImmatureSignatureError as exc:
            raise TokenNotYetValid(str(exc)) from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"{type(exc).__name__}: {exc}") from None
        try:
            role = Role(payload.get("role"))
        except ValueError:
            raise TokenInvalid(f"unknown role {payload.get('role')!r:.64}") from None
        return Claims(
            subject=payload["sub"],
            role=role,
            jti=payload["jti"],
            issued_at=float(payload["iat"]),
            expires_at=float(payload["exp"]),
            raw=MappingProxyType(payload),
        )


_VERIFIED_CACHE_SIZE = 10_000


def new_refresh_token() -> tuple[str, str]:
    """Make a refresh token.

    Returns:
        ``(token, digest)``: give ``token`` to the client once; store only
        ``digest`` (SHA-256 hex). The token carries 256 random bits, so an
        unsalted fast hash is enough: nothing to brute-force.

    Example::

        token, digest = new_refresh_token()
        assert hash_refresh_token(token) == digest
    """
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """SHA-256 hex digest of a refresh token, the value to look up in the DB.

    Example::

        row = await repo.find_refresh(hash_refresh_token(presented))
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_from_authorization(header_value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header.

    Args:
        header_value: the header, or ``None`` when absent.

    Returns:
        The token, or ``None`` when there is no header (so the caller can
        raise :class:`TokenMissing`).

    Raises:
        TokenInvalid: a header with another scheme or no token.

    Example::

        token_from_authorization("Bearer abc.def.ghi")   # "abc.def.ghi"
    """
    if header_value is None or not header_value.strip():
        return None
    scheme, _, token = header_value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenInvalid("Authorization header is not 'Bearer <token>'")
    return token


def _split_subprotocols(header_value: str) -> list[str]:
    # Same as Plug.Conn.Utils.list/1: comma separated, trimmed, empties dropped.
    return [p.strip() for p in header_value.split(",") if p.strip()]


def token_from_subprotocol(header_value: str | None) -> str | None:
    """The Phoenix JS ``authToken`` carried in ``Sec-WebSocket-Protocol``.

    The client sends ``"base64url.bearer.phx." + btoa(token)`` with the ``=``
    padding removed. Despite the prefix the alphabet is standard base64
    (``+``, ``/``). As in Phoenix, the token is used only when exactly one
    entry has the prefix.

    Args:
        header_value: the raw header, or ``None``.

    Returns:
        The decoded token, or ``None`` when no single entry carries one.

    Raises:
        TokenInvalid: the entry is not valid base64 of UTF-8 text (Phoenix
            crashes the request here; we refuse it instead).

    Example::

        token_from_subprotocol("phoenix,base64url.bearer.phx.czNjcjN0LXRva2Vu")
        # "s3cr3t-token"
    """
    if not header_value:
        return None
    entries = [e for e in _split_subprotocols(header_value) if e.startswith(AUTH_TOKEN_PREFIX)]
    if len(entries) != 1:
        return None
    encoded = entries[0][len(AUTH_TOKEN_PREFIX) :].rstrip("=")
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        token = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenInvalid("auth token subprotocol is not base64 of UTF-8 text") from None
    return token or None


def remaining_subprotocols(header_value: str | None) -> list[str]:
    """The offered subprotocols once the auth token entry is taken out.

    Run the subprotocol check against this list; the reply must echo
    ``"phoenix"`` or browsers abort the handshake. When zero or several
    entries carry the prefix, nothing is removed (as in Phoenix).

    Example::

        remaining_subprotocols("phoenix, base64url.bearer.phx.czNjcjN0LXRva2Vu")
        # ["phoenix"]
    """
    if not header_value:
        return []
    entries = _split_subprotocols(header_value)
    tokens = [e for e in entries if e.startswith(AUTH_TOKEN_PREFIX)]
    if len(tokens) != 1:
        return entries
    return [e for e in entries if not e.startswith(AUTH_TOKEN_PREFIX)]
