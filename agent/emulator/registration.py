"""Issue 15: the business unit a document names (POINTNM, POINTADDR) against the registrar's data.

ORGNM, TIN, IPN and CASHDESKNUM are checked in rules._check_registration_data; this adds the unit. The
reference says DPS «compares [ORGNM] literally with registration data» and names «ORGNM/TIN/IPN not
matching registration data» among the DocumentValidationError causes (reference §3.2, §5.3); POINTNM
«Найменування точки продажу» and POINTADDR «Адреса точки продажу» (check01.xsd, zrep01.xsd) are the
registered business unit's (form 20-ОПП, the TaxObject's Name and Address of the Objects command,
fsko_evpz_doc.txt «Запит переліку об'єктів оподаткування»), so they are compared the same literal way.
"""

from __future__ import annotations

from typing import Any

from agent.emulator import xmldoc
from agent.emulator.errors import VALIDATION, FsError


def check_point(doc: xmldoc.ParsedDoc, reg: Any) -> None:
    for tag, want in (("POINTNM", reg["point_name"]), ("POINTADDR", reg["point_address"])):
        got = doc.head.get(tag) or None
        if got != (want or None):
            raise FsError(
                VALIDATION,
                f"Значення {tag} «{got or ''}» відрізняється від реєстраційних даних ПРРО "
                f"{reg['fiscal_number']} («{want or ''}»)",
            )
