"""Réseaux antagonistes génératifs (GAN, WGAN-GP).

Module en cours d'écriture."""
