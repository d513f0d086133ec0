"""Password handling shared by the encrypted formats."""

from __future__ import annotations

from .errors import PasswordRequired


def _password_candidates(password: str | bytes) -> list[bytes]:
    if isinstance(password, bytes):
        return [password]
    # IIT's Windows software hashes the password in windows-1251; try UTF-8 first, then that.
    out = [password.encode("utf-8")]
    try:
        cp1251 = password.encode("cp1251")
    except UnicodeEncodeError:
        return out
    if cp1251 != out[0]:
        out.append(cp1251)
    return out


def _require(password: str | bytes | None, what: str) -> str | bytes:
    if password is None:
        raise PasswordRequired(f"the {what} is password-protected: pass its password")
    return password
