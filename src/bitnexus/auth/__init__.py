"""Authentication and authorization: JWTs, password hashing, roles.

Example::

    tokens = Tokens(keys=[SigningKey("k1", secret)], issuer="bitnexus",
                    audience="bitnexus-api", access_ttl=900)
    claims = tokens.verify_access(tokens.issue_access("42", Role.USER))
    require(Principal(claims.subject, claims.role), Permission.PRODUCTS_READ)
"""

from bitnexus.auth.passwords import MAX_PASSWORD_LENGTH, PasswordHasher, PasswordRejected
from bitnexus.auth.roles import (
    PERMISSIONS,
    Forbidden,
    Permission,
    Principal,
    Role,
    UnknownRole,
    can_view_notifications,
    can_view_transaction,
    has_permission,
    require,
)
from bitnexus.auth.tokens import (
    AUTH_TOKEN_PREFIX,
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

__all__ = [
    "AUTH_TOKEN_PREFIX",
    "MAX_PASSWORD_LENGTH",
    "PERMISSIONS",
    "Claims",
    "Forbidden",
    "PasswordHasher",
    "PasswordRejected",
    "Permission",
    "Principal",
    "Role",
    "SigningKey",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenMissing",
    "TokenNotYetValid",
    "Tokens",
    "UnknownRole",
    "can_view_notifications",
    "can_view_transaction",
    "has_permission",
    "hash_refresh_token",
    "new_refresh_token",
    "remaining_subprotocols",
    "require",
    "token_from_authorization",
    "token_from_subprotocol",
]
