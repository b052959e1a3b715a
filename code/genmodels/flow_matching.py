"""Flow matching conditionnel (CFM, OT-CFM).

Module en cours d'écriture."""
