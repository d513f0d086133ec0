"""The tax service's refusal: an ``ErrorCode`` (reference §5.1), an HTTP status and a Ukrainian text."""

from __future__ import annotations

ERROR_NAMES: dict[int, str] = {
    0: "Ok",
    1: "TransactionsRegistrarAbsent",
    2: "OperatorAccessToTransactionsRegistrarNotGranted",
    3: "InvalidTin",
    4: "ShiftAlreadyOpened",
    5: "ShiftNotOpened",
    6: "LastDocumentMustBeZRep",
    7: "CheckLocalNumberInvalid",
    8: "ZRepAlreadyRegistered",
    9: "DocumentValidationError",
    10: "PackageValidationError",
    11: "InvalidQueryParameter",
    12: "CryptographyError",
}

ABSENT = 1
NOT_GRANTED = 2
INVALID_TIN = 3
SHIFT_ALREADY_OPENED = 4
SHIFT_NOT_OPENED = 5
LAST_MUST_BE_ZREP = 6
LOCAL_NUMBER_INVALID = 7
ZREP_ALREADY = 8
VALIDATION = 9
PACKAGE = 10
QUERY = 11
CRYPTO = 12

# The statuses the reference gives for these codes; everything else is a plain 400.
_HTTP_BY_CODE = {ABSENT: 404, NOT_GRANTED: 401}


class FsError(Exception):
    """A refusal in the tax service's own shape; ``body()`` is what goes on the wire."""

    def __init__(self, code: int, text: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{code} {ERROR_NAMES.get(code, '')}: {text}")
        self.code = code
        self.text = text
        self.http_status = http_status if http_status is not None else _HTTP_BY_CODE.get(code, 400)

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, "Error")

    def body(self) -> bytes:
        return f"Код помилки: {self.code} {self.name}\r\n{self.text}".encode()


class TransportError(Exception):
    """Refused before any fiscal rule applies (wrong path, method, content type, size)."""

    def __init__(self, http_status: int, text: str) -> None:
        super().__init__(text)
        self.http_status = http_status
        self.text = text
