"""Auto-encodeurs et auto-encodeurs variationnels (VAE).

Module en cours d'écriture."""
