"""Modèles de diffusion (DDPM, DDIM, diffusion latente).

Module en cours d'écriture."""
