"""genmodels : le code du cours « Modèles génératifs profonds ».

Modules :

* :mod:`genmodels.datasets` — densités jouets 2-D (avec log-densité exacte) et chiffres 8×8 ;
* :mod:`genmodels.training` — la boucle d'entraînement unique ;
* :mod:`genmodels.metrics` — NLL et écart de KL, distances entre échantillons, planchers de bruit ;
* :mod:`genmodels.plotting` — figures ;
* :mod:`genmodels.divergences` — KL, Jensen-Shannon ;
* :mod:`genmodels.conditional` — régresseur et réseau à densité de mélange ;
* :mod:`genmodels.mixture` — mélange de gaussiennes ajusté par EM, le repère classique ;
* :mod:`genmodels.flows` — flots normalisants (couplages affines, RealNVP) ;
* :mod:`genmodels.vae` — auto-encodeurs et VAE ;
* :mod:`genmodels.diffusion` — diffusion (DDPM, DDIM, diffusion latente) ;
* :mod:`genmodels.gan` — GAN et WGAN-GP ;
* :mod:`genmodels.flow_matching` — flow matching conditionnel ;
* :mod:`genmodels.recipes` — les recettes d'entraînement partagées par les chapitres et les bancs ;
* :mod:`genmodels.comparison` — les familles au même budget, mesurées par leur face commune ;
* :mod:`genmodels.reporting` — résumés, tableaux et résultats des bancs d'essai ;
* :mod:`genmodels.nn` — briques de réseaux ;
* :mod:`genmodels.utils` — périphérique, graines, points de sauvegarde.
"""

from . import (
    comparison,
    conditional,
    datasets,
    diffusion,
    divergences,
    flow_matching,
    flows,
    gan,
    metrics,
    mixture,
    nn,
    plotting,
    recipes,
    reporting,
    training,
    utils,
    vae,
)
from .training import History, Stage, TrainConfig, TrainingDivergedError, train
from .utils import get_device, load_checkpoint, save_checkpoint, seed_everything

__version__ = "0.1.0"  # le même que dans pyproject.toml (un test le vérifie)

WHEEL = f"genmodels-{__version__}-py3-none-any.whl"
"""Nom de la roue du paquet que le livre construit propose au téléchargement (page « Prise en main »)."""


def start_chapter() -> tuple[utils.Stopwatch, "torch.device"]:
    """Mise en place d'un chapitre : nombres des figures à la française, chronomètre, périphérique.

    Affiche la version du paquet et le périphérique de calcul (CUDA s'il est disponible,
    sinon le processeur) ; rend le chronomètre, dont le chapitre cite la durée à sa fin, et
    le périphérique.
    """
    plotting.use_french_numbers()
    device = get_device()
    print(f"genmodels {__version__}, calculs sur : {device}")
    return utils.Stopwatch(), device

__all__ = [
    "comparison",
    "conditional",
    "datasets",
    "diffusion",
    "divergences",
    "flow_matching",
    "flows",
    "gan",
    "metrics",
    "mixture",
    "nn",
    "plotting",
    "recipes",
    "reporting",
    "training",
    "utils",
    "vae",
    "History",
    "Stage",
    "TrainConfig",
    "TrainingDivergedError",
    "train",
    "get_device",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "start_chapter",
    "WHEEL",
]
