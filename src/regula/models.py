"""Every table model of regula, imported in one place so the metadata is complete."""
