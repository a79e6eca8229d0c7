"""Allocation of OCI slots: pure types (``instance``), the exact flow model (``flow``), the greedy baseline
(``greedy``) and a solver-independent validator (``validate``). No database, no I/O (ARCHITECTURE, decision 7)."""
