"""What can go wrong with a key container, one class per thing to fix."""

from __future__ import annotations


class KeyContainerError(Exception):
    """The key container or its certificate cannot be used; the message says what to fix."""


class UnsupportedContainer(KeyContainerError):
    pass


class MalformedContainer(KeyContainerError):
    pass


class PasswordRequired(KeyContainerError):
    pass


class WrongPassword(KeyContainerError):
    pass


class BadCertificate(KeyContainerError):
    pass


class KeyMismatch(KeyContainerError):
    pass


class CertificateNotValid(KeyContainerError):
    pass
