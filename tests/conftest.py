"""Fixtures communes des tests."""

import pytest
import torch

import genmodels as gm


@pytest.fixture
def float64():
    """Calculs en float64 pendant le test (précision des comparaisons mathématiques)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch.float64
    torch.set_default_dtype(old)


@pytest.fixture
def device():
    """Le périphérique que choisit le paquet (CUDA si disponible)."""
    return gm.get_device()


@pytest.fixture
def gen():
    """Générateur PyTorch à graine fixe."""
    return torch.Generator().manual_seed(1234)
