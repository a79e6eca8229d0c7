"""Ressarcimento: health-plan operators serving SUS patients to pay what they owe (Portaria Conjunta MS/AGU
7.702/2025): operators, offer matrices, regional caps, monthly attestation, COR and sanctions."""
