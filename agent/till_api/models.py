"""Request bodies of the till API, as Checkbox's API v1 takes them (docs/checkbox-compat.md).

Money is whole kopecks and quantities whole thousandths: strict integers, so a float is a 422 naming
the field instead of a rounding the till did not ask for.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

Kopecks = Annotated[StrictInt, Field(ge=0, le=100_000_000_00)]
Thousandths = Annotated[StrictInt, Field(gt=0, le=1_000_000_000)]
Text128 = Annotated[str, Field(max_length=128)]


def _a_uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(
            "must be a UUID (as Checkbox's ids are), e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6"
        ) from None
    return value


# A till's id for what it asks the box to make: the idempotency key, a UUID as Checkbox requires.
RequestId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_a_uuid)]


class _Body(BaseModel):
    # Tills send fields the box does not use (delivery, context, …): accept and ignore them.
    model_config = ConfigDict(extra="ignore")


class SignIn(_Body):
    login: Annotated[str, Field(min_length=1, max_length=256)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class SignInPin(_Body):
    pin_code: Annotated[str, Field(min_length=1, max_length=64)]


class Good(_Body):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=1024)]
    price: Kopecks
    barcode: Annotated[str, Field(max_length=64)] | None = None
    uktzed: Annotated[str, Field(max_length=16)] | None = None
    tax: list[StrictInt | Annotated[str, Field(min_length=1, max_length=1)]] = Field(
        default_factory=list, max_length=8
    )


# A discount is kopecks (VALUE) or a percentage (PERCENT): bounded like any sum, so that 1e300 is a 422
# naming the field and not an arithmetic error deep in the register.
DiscountValue = (
    Annotated[StrictInt, Field(ge=0, le=100_000_000_00)]
    | Annotated[float, Field(ge=0, le=100_000_000_00, allow_inf_nan=False)]
)


class Discount(_Body):
    type: Literal["DISCOUNT", "EXTRA_CHARGE"] = "DISCOUNT"
    mode: Literal["PERCENT", "VALUE"] = "VALUE"
    value: DiscountValue
    name: Text128 | None = None
    # receipt-level only: the discount applies to the goods of these taxes (code or letter), as Checkbox's
    tax_code: StrictInt | Annotated[str, Field(min_length=1, max_length=1)] | None = None
    tax_codes: list[StrictInt | Annotated[str, Field(min_length=1, max_length=1)]] = Field(
        default_factory=list, max_length=8
    )


class GoodItem(_Body):
    good: Good
    quantity: Thousandths
    is_return: bool = False
    discounts: list[Discount] = Field(default_factory=list, max_length=4)


# Card details as Checkbox's CardPaymentPayload names them. Checkbox bounds only card_mask (maxLength 19);
# the rest are bounded by the check01.xsd element each one goes to (docs/checkbox-compat.md, "Card
# payment details"), so that a longer one is a 422 naming the field, not a document the XSD refuses.
Str64 = Annotated[str, Field(max_length=64)]
Str128 = Annotated[str, Field(max_length=128)]


class Payment(_Body):
    type: Literal["CASH", "CASHLESS", "CARD"] = "CASH"
    value: Kopecks
    label: Text128 | None = None
    card_mask: Annotated[str, Field(max_length=19)] | None = None  # EPZDETAILS
    bank_name: Str128 | None = None  # ACQUIRENM
    auth_code: Str64 | None = None  # AUTHCD (Str64Column)
    rrn: Str128 | None = None  # ACQUIRETRANSID
    payment_system: Str128 | None = None  # NAME
    owner_name: Annotated[str, Field(max_length=256)] | None = None  # CLIENTINFO (Str256Column)
    terminal: Str128 | None = None  # DEVICEID
    acquiring: Str128 | None = None  # Checkbox: obsolete, "use acquirer_and_seller"; ACQUIREID when alone
    acquirer_and_seller: Str128 | None = None  # ACQUIREID
    receipt_no: Str128 | None = None  # POSTRANSNUM
    commission: Kopecks | None = None  # COMMISSION


class ReceiptSell(_Body):
    id: RequestId | None = None
    cashier_name: Text128 | None = None
    goods: Annotated[list[GoodItem], Field(min_length=1, max_length=500)]
    payments: Annotated[list[Payment], Field(min_length=1, max_length=10)]
    discounts: list[Discount] = Field(default_factory=list, max_length=4)
    related_receipt_id: Annotated[str, Field(max_length=64)] | None = None
    rounding: bool = False


class ServicePayment(_Body):
    type: Literal["CASH", "CASHLESS", "CARD"] = "CASH"
    # Positive: service deposit (SERVICE_IN); negative: service issue (SERVICE_OUT).
    value: Annotated[StrictInt, Field(ge=-100_000_000_00, le=100_000_000_00)]
    label: Text128 | None = None


class ReceiptService(_Body):
    id: RequestId | None = None
    payment: ServicePayment


class ShiftOpen(_Body):
    id: RequestId | None = None


class Empty(_Body):
    pass


JsonObject = dict[str, Any]
