"""Citizen messaging: SMS and WhatsApp through Twilio, the outbox and its dispatcher."""
