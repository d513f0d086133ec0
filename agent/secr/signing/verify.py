"""One way to open any signed envelope the box meets: a qualified ДСТУ 4145 CAdES (the real thing) or the
dev signer's CMS (test mode). Generic crypto, shared by the box's client and the emulator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms as asn1_cms
from cryptography.x509.oid import NameOID

from agent.secr.signing.cms import CmsError, verify_attached
from agent.secr.signing.dstu.cades import GOST34311_OID, verify_cades
from agent.secr.signing.dstu.gost89 import gost34311
from agent.secr.signing.tsp import TimeStampError, verify_time_stamp_token


@dataclass(frozen=True)
class SignedContent:
    content: bytes
    subject_key_id: str  # lowercase hex
    signer_name: str
    signing_time: datetime | None
    qualified: bool  # ДСТУ 4145 (a qualified signature), not the dev signer's
    time_stamped: bool = False  # carries a signature-time-stamp that covers this very signature


def is_dstu(der: bytes) -> bool:
    """Signed with a ГОСТ 34.311 digest, i.e. meant as a ДСТУ 4145 signature."""
    try:
        signers = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"]
        return bool(len(signers)) and signers[0]["digest_algorithm"]["algorithm"].dotted == GOST34311_OID
    except Exception:  # anything unparsable is left to the verifiers, which say what is wrong
        return False


def verify_signed(der: bytes, *, qualified_only: bool = False) -> SignedContent:
    """Verify either kind; raise CmsError (or a subclass) naming what is wrong."""
    if is_dstu(der):
        dstu = verify_cades(der)
        if dstu.time_stamp_token is not None:
            # The stamp must cover this signature value, or it stamps something else.
            signature_value = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
            try:
                verify_time_stamp_token(dstu.time_stamp_token, imprint=gost34311(signature_value), nonce=None)
            except TimeStampError as exc:
                raise CmsError(f"the signature-time-stamp is not valid: {exc}") from exc
        return SignedContent(
            content=dstu.content,
            subject_key_id=dstu.subject_key_id,
            signer_name=dstu.certificate.common_name or "",
            signing_time=dstu.signing_time,
            qualified=True,
            time_stamped=dstu.time_stamp_token is not None,
        )
    if qualified_only:
        raise CmsError("only a qualified ДСТУ 4145 signature is accepted here (this one is not)")
    dev = verify_attached(der)
    names = dev.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return SignedContent(
        content=dev.content,
        subject_key_id=dev.subject_key_id,
        signer_name=str(names[0].value) if names else dev.certificate.subject.rfc4514_string(),
        signing_time=dev.signing_time,
        qualified=False,
    )
