"""Exports to the federal systems: the individualized waitlist of a UF as CSV, JSON or a FHIR R4 Bundle
(Portaria GM/MS 3.492/2024 as amended, art. 14 §1–2). See docs/exports/waitlist.md."""
