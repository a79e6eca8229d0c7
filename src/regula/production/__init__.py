"""Care navigation to the end of an OCI, production control and the APAC export (issue 7).

* ``service``: the procedures performed for an entry in atendimento, checked against the OCI's SIGTAP composition;
  the tM clock from the first to the last procedure; the conclusion with the return to APS; alerts at tR and
  before tM; authorization numbers issued from the ranges the state distributes.
* ``authorization``: APAC/AIH and CMD authorization numbers (pure).
* ``composition``: an OCI's completion rule and clock (pure).
* ``control``: imported SIA/BPA-like production lines and the cross-checks of the amendment to Portaria GM/MS
  3.492/2024, art. 14 §3.
* ``indicators``: first vs return consultations and the "efeito velcro" per provider (art. 10 §4 III, art. 12 VIII).
* ``apac``: the OCI production of a competência and establishment, as a documented CSV (docs/production.md).
* ``routes`` (API), ``cli`` (``regula production``), ``jobs`` (daily alerts), ``demo`` (the demo's OCIs);
  the pages are ``regula.web.production``.
"""
