"""Signers: bytes in, attached CMS SignedData out."""

from agent.secr.signing.base import Signer
from agent.secr.signing.dev import DevSigner

__all__ = ["DevSigner", "Signer"]
