"""Identity's errors, each a family of the shared tree with a stable dotted code."""

from __future__ import annotations

from shared.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    ValidationError,
)

__all__ = [
    "EmailTakenError",
    "InvalidCredentialsError",
    "LastOwnerError",
    "MemberAlreadyExistsError",
    "MemberNotFoundError",
    "NoMembershipError",
    "OrgNotFoundError",
    "OwnerRoleRequiredError",
    "PasswordPolicyError",
    "RefreshTokenExpiredError",
    "RefreshTokenInvalidError",
    "RefreshTokenReusedError",
    "SigningKeyMissingError",
    "UserNotFoundError",
]


class OrgNotFoundError(NotFoundError):
    """The org does not exist, or it is not the caller's."""

    code = "org.not_found"
    default_message = "The organisation was not found."


class MemberNotFoundError(NotFoundError):
    """No such member in the caller's org."""

    code = "member.not_found"
    default_message = "The member was not found."


class UserNotFoundError(NotFoundError):
    """No user has this email address."""

    code = "user.not_found"
    default_message = "No user has this email address."


class EmailTakenError(ConflictError):
    """A user with this email address already exists."""

    code = "user.email_taken"
    default_message = "A user with this email address already exists."


class MemberAlreadyExistsError(ConflictError):
    """The user is already a member of the org."""

    code = "member.already_exists"
    default_message = "The user is already a member of this organisation."


class LastOwnerError(ConflictError):
    """An org must keep at least one owner."""

    code = "member.last_owner"
    default_message = "An organisation must keep at least one owner."


class OwnerRoleRequiredError(PermissionDeniedError):
    """Only an owner may grant the owner role or change or remove an owner."""

    code = "member.owner_required"
    default_message = "Only an owner may grant, change or remove the owner role."


class PasswordPolicyError(ValidationError):
    """The password breaks the password policy."""

    code = "user.password_policy"
    default_message = "The password must be 12 to 128 characters long."


class InvalidCredentialsError(UnauthenticatedError):
    """Unknown email or wrong password (deliberately indistinguishable)."""

    code = "auth.invalid_credentials"
    default_message = "The email address or password is incorrect."


class NoMembershipError(UnauthenticatedError):
    """The user belongs to no org (any more), so no token can be issued."""

    code = "auth.no_membership"
    default_message = "The user is not a member of any organisation."


class RefreshTokenInvalidError(UnauthenticatedError):
    """The refresh token is unknown or revoked."""

    code = "auth.refresh_token_invalid"
    default_message = "The refresh token is invalid."


class RefreshTokenExpiredError(UnauthenticatedError):
    """The refresh token has expired; sign in again."""

    code = "auth.refresh_token_expired"
    default_message = "The refresh token has expired; sign in again."


class RefreshTokenReusedError(UnauthenticatedError):
    """An already-rotated refresh token was presented: the whole session family is revoked."""

    code = "auth.refresh_token_reused"
    default_message = "The refresh token was already used; the session has been revoked."


class SigningKeyMissingError(NotFoundError):
    """No active signing key exists (run ``ordo-identity-cli init-keys``)."""

    code = "signing_key.missing"
    default_message = "No signing key is available."
