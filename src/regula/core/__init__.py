"""The bottom layer every domain may use and that uses no other regula package: who acts (the system role), the
clock, the domain-event hooks, advisory-lock keys and the typed errors. Decision 0011 (one-way dependencies)."""
