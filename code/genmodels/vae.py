"""Auto-encodeurs et auto-encodeurs variationnels (VAE).

Auto-encodeur : un encodeur z = f(x) et un décodeur x̂ = g(z), entraînés à reconstruire
x (erreur quadratique). Ce n'est pas un modèle génératif : rien n'indique comment tirer z.

VAE (Kingma & Welling, 2014 ; Rezende et al., 2014) : un modèle à variables latentes

    p(z) = 𝒩(0, I),    p_θ(x | z) = loi de paramètres Décodeur_θ(z),

dont la vraisemblance p_θ(x) = ∫ p(z) p_θ(x | z) dz est incalculable. Un encodeur
q_φ(z | x) = 𝒩(μ_φ(x), diag σ²_φ(x)) approche la loi a posteriori, et l'on maximise la
borne inférieure de l'évidence (ELBO)

    ln p_θ(x) ≥ ELBO(x) = E_{q_φ(z|x)}[ln p_θ(x | z)] - KL(q_φ(z | x) ‖ p(z)),

la KL entre gaussiennes diagonales étant calculée en forme close et l'espérance estimée
avec un seul tirage reparamétré z = μ + σ ⊙ ε, ε ~ 𝒩(0, I). Génération : z ~ 𝒩(0, I),
puis x = Décodeur(z) (la moyenne de p_θ(x | z), ou un tirage de cette loi).

Lois du décodeur (argument ``likelihood``) :

* ``"binomial"`` (défaut pour les chiffres) : les pixels des chiffres 8×8 sont des entiers
  k ∈ {0, …, 16} (divisés par 16 dans ``load_digits("unit")``). On pose
  k ~ Binomiale(16, p_θ(z)) indépendamment par pixel : c'est une vraie loi de probabilité
  sur les images discrètes, et -ln p(x) est une NLL en **nats par image**, positive, sur
  l'espace des entiers 0…16 ; la moyenne du décodeur p_θ(z) est directement l'image dans
  [0, 1].
* ``"bernoulli"`` : l'entropie croisée binaire, habituelle sur MNIST binarisé. Pour des
  pixels non binaires, ce n'est pas une loi normalisée : ses « NLL » ne sont pas des
  vraisemblances.
* ``"gaussian"`` : 𝒩(μ_θ(z), diag σ²_θ(z)), une densité pour des données continues (les
  densités 2-D du cours) ; σ_θ(z) est prédit par le décodeur, borné en douceur vers le bas.

A priori (argument ``prior``) : ``"normal"`` (𝒩(0, I), défaut) ou ``"mixture"`` (mélange
appris de gaussiennes diagonales, qui épouse les amas des codes ; KL estimée par Monte-Carlo).

Perte (:func:`loss`) : l'ELBO, ou ses variantes d'entraînement, poids β de la KL (β-VAE),
montée de ce poids sur les premières itérations (``kl_warmup``, :func:`kl_weight` ; la boucle
:func:`genmodels.train` passe l'itération courante) et bits libres par coordonnée du latent
(``free_bits``, :func:`free_bits_kl`), qui évitent l'effondrement d'une coordonnée sur les
densités 2-D (recette :func:`~genmodels.recipes.vae_toy`).

Face commune des familles (:func:`loss`, :func:`sample`, :func:`log_prob`, :data:`DENSITY`,
:func:`nfe`, :func:`sampling_parameters`) ; le modèle se construit par :class:`VAE`, les
protocoles d'entraînement sont dans :mod:`genmodels.recipes` (:func:`~genmodels.recipes.vae_toy`,
:func:`~genmodels.recipes.vae_digits`, :func:`~genmodels.recipes.autoencoder_digits`). Contrat
(utilisé aussi par la diffusion latente du chapitre sur la diffusion) ::

    fit = recipes.vae_digits(latent_dim=8)        # Fit(model, history, data)
    post = fit.model.encode(x)                    # Posterior(mean, logvar)
    x_img = fit.model.decode_mean(post.mean)      # images dans [0, 1]
    x_new = sample(fit.model, 64)                 # z ~ 𝒩(0, I), x = Décodeur(z)
    nll = -log_prob(fit.model, x_test, k=500).mean()   # borne IWAE : DENSITY = Density.BOUND
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from sklearn.mixture import GaussianMixture
from torch import nn
from torch.nn import functional as F

from .datasets import DigitsData
from .metrics import Density, digits_evaluation, digits_frechet_distance
from .nn import MLP
from .utils import (MAX_DRAWS, as_tensor, check_choice, check_generator, check_positive_int, check_positive_real,
                    check_widths, module_device, module_dtype, standard_normal)

__all__ = [
    # auto-encodeur
    "Autoencoder",
    "ae_loss",
    "pca_basis",
    # VAE
    "Posterior",
    "DecoderOutput",
    "VAE",
    "LIKELIHOODS",
    "PRIORS",
    "MODES",
    "kl_diagonal_gaussians",
    "reparameterize",
    "ELBOTerms",
    "elbo_terms",
    "kl_weight",
    "free_bits_kl",
    "loss",
    "elbo",
    "iwae_bound",
    "sample",
    "log_prob",
    "DENSITY",
    "nfe",
    "sampling_parameters",
    "reconstruct",
    "interpolate",
    "GaussianBaseline",
    "AggregatePosteriorGMM",
    "fit_aggregate_posterior",
    "sample_aggregate_posterior",
    "DigitsSampleScores",
    "digits_sample_scores",
]

LIKELIHOODS = ("binomial", "bernoulli", "gaussian")
"""Lois permises du décodeur p_θ(x | z) (argument ``likelihood`` de :class:`VAE`)."""
PRIORS = ("normal", "mixture")
"""A priori permis p(z) (argument ``prior`` de :class:`VAE`)."""
MODES = ("mean", "sample")
"""Modes de génération de :func:`sample` : espérance E[x | z], ou tirage x ~ p_θ(x | z)."""
DENSITY = Density.BOUND
"""Nature de :func:`log_prob` : une borne inférieure de ln p_θ(x) (borne IWAE)."""
_LOG_2PI = math.log(2 * math.pi)
_MIN_LOG_SCALE = -7.0  # borne basse douce de ln σ du décodeur gaussien
_LOGVAR_BOUNDS = (-14.0, 8.0)  # bornes de ln σ² de l'encodeur (stabilité numérique)


# --------------------------------------------------------------------------------------
# Auto-encodeur « classique »
# --------------------------------------------------------------------------------------


class Autoencoder(nn.Module):
    """Auto-encodeur déterministe : z = Encodeur(x), x̂ = Décodeur(z).

    Args:
        data_dim: dimension D des données.
        latent_dim: dimension d du code (d < D : compression).
        hidden: largeurs cachées de l'encodeur (le décodeur les prend en ordre inverse) ;
            ``()`` donne un auto-encodeur **linéaire** z = W_e x + b_e, x̂ = W_d z + b_d.
        output: ``"linear"`` (sortie libre) ou ``"sigmoid"`` (sortie dans [0, 1], pour des
            images).

    Shapes:
        ``encode`` : ``(batch, D)`` → ``(batch, d)`` ; ``decode`` : ``(batch, d)`` → ``(batch, D)``.
    """

    def __init__(self, data_dim: int = 64, latent_dim: int = 2, hidden: Sequence[int] = (128,),
                 output: str = "linear") -> None:
        super().__init__()
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.output = check_choice("output", output, ("linear", "sigmoid"))
        hidden = check_widths("hidden", hidden)
        self.encoder = MLP(self.data_dim, self.latent_dim, hidden)
        self.decoder = MLP(self.latent_dim, self.data_dim, hidden[::-1])

    @property
    def is_linear(self) -> bool:
        """Vrai si encodeur et décodeur sont des applications affines (aucune couche cachée)."""
        return len(self.encoder) == 1 and self.output == "linear"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code z = Encodeur(x), forme ``(batch, latent_dim)``."""
        return self.encoder(as_tensor("x", x, dim=self.data_dim))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction x̂ = Décodeur(z), forme ``(batch, data_dim)``."""
        out = self.decoder(as_tensor("z", z, dim=self.latent_dim))
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x̂ = Décodeur(Encodeur(x))."""
        return self.decode(self.encode(x))

    def decoder_matrix(self) -> torch.Tensor:
        """Matrice W_d ``(data_dim, latent_dim)`` d'un auto-encodeur linéaire (son image est le sous-espace appris)."""
        if not self.is_linear:
            raise ValueError("decoder_matrix n'a de sens que pour un auto-encodeur linéaire (hidden=(), output='linear').")
        return self.decoder[0].weight.detach()


def ae_loss(model: Autoencoder, batch: torch.Tensor | tuple) -> torch.Tensor:
    """Erreur de reconstruction ‖x - Décodeur(Encodeur(x))‖², sommée sur les coordonnées, moyennée sur le lot.

    Un tuple ``(y, x)`` est accepté (les étiquettes sont ignorées).
    """
    x = _split_batch(batch)[0]
    return (model(x) - x).square().sum(dim=1).mean()


def pca_basis(x: torch.Tensor, k: int) -> torch.Tensor:
    """Base orthonormée ``(D, k)`` des k premières composantes principales de ``x`` ``(n, D)``.

    Calculée en float64 par décomposition en valeurs singulières des données centrées.
    """
    x = as_tensor("x", x).double()
    if x.ndim != 2:
        raise ValueError(f"x doit être de forme (n, D), reçu {tuple(x.shape)}.")
    k = check_positive_int("k", k)
    if k > min(x.shape):
        raise ValueError(f"k doit être ≤ min(n, D) = {min(x.shape)}, reçu {k}.")
    _, _, vh = torch.linalg.svd(x - x.mean(dim=0), full_matrices=False)
    return vh[:k].T


# --------------------------------------------------------------------------------------
# VAE : lois, KL, reparamétrisation
# --------------------------------------------------------------------------------------


class Posterior(NamedTuple):
    """Loi a posteriori approchée q_φ(z | x) = 𝒩(mean, diag exp(logvar)).

    Attributes:
        mean: moyennes μ_φ(x), forme ``(batch, latent_dim)``.
        logvar: ln σ²_φ(x), même forme.
    """

    mean: torch.Tensor
    logvar: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        """Écarts-types σ = exp(½ logvar)."""
        return torch.exp(0.5 * self.logvar)

    def distribution(self) -> torch.distributions.Independent:
        """La loi ``torch.distributions`` correspondante (pour vérifier ou tracer)."""
        return torch.distributions.Independent(torch.distributions.Normal(self.mean, self.std), 1)


class DecoderOutput(NamedTuple):
    """Paramètres de la loi p_θ(x | z) renvoyés par :meth:`VAE.decode`.

    Attributes:
        mean: espérance de x sachant z, dans l'échelle des données (dans [0, 1] pour
            ``binomial``/``bernoulli``), forme ``(batch, data_dim)``.
        logits: logit de la probabilité p (lois ``binomial`` et ``bernoulli``), sinon ``None``.
        log_scale: ln σ (loi ``gaussian``), sinon ``None``.
    """

    mean: torch.Tensor
    logits: torch.Tensor | None = None
    log_scale: torch.Tensor | None = None


def kl_diagonal_gaussians(mean_q: torch.Tensor, logvar_q: torch.Tensor,
                          mean_p: torch.Tensor | float = 0.0, logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL(𝒩(μ_q, diag σ²_q) ‖ 𝒩(μ_p, diag σ²_p)) en forme close, sommée sur la dernière dimension.

        KL = ½ Σ_j [ ln σ²_p,j - ln σ²_q,j + (σ²_q,j + (μ_q,j - μ_p,j)²) / σ²_p,j - 1 ].

    Avec les valeurs par défaut (a priori 𝒩(0, I)) : ½ Σ_j [μ² + σ² - ln σ² - 1].

    Returns:
        KL en nats, forme ``mean_q.shape[:-1]``.
    """
    mean_p = torch.as_tensor(mean_p, dtype=mean_q.dtype, device=mean_q.device)
    logvar_p = torch.as_tensor(logvar_p, dtype=mean_q.dtype, device=mean_q.device)
    terms = logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).square()) / logvar_p.exp() - 1.0
    return 0.5 * terms.sum(dim=-1)


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, n_samples: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Tirage reparamétré z = μ + σ ⊙ ε, ε ~ 𝒩(0, I) : dérivable par rapport à μ et ln σ².

    Args:
        mean, logvar: paramètres de q, forme ``(batch, d)``.
        n_samples: ``None`` pour un tirage par ligne (forme ``(batch, d)``) ; sinon K tirages
            par ligne, forme ``(K, batch, d)``.
        generator: générateur PyTorch ; ε est tiré sur son périphérique puis déplacé sur
            celui de ``mean`` (un générateur CPU convient pour un modèle sur GPU).
    """
    shape = mean.shape if n_samples is None else (check_positive_int("n_samples", n_samples), *mean.shape)
    eps = standard_normal(tuple(shape), generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


# --------------------------------------------------------------------------------------
# Le VAE
# --------------------------------------------------------------------------------------


class VAE(nn.Module):
    """Auto-encodeur variationnel à encodeur et décodeur MLP, conditionnel si ``n_classes`` est donné.

    Args:
        data_dim: dimension D des données (64 pour les chiffres 8×8).
        latent_dim: dimension d du latent z.
        hidden: largeurs cachées de l'encodeur ; le décodeur les prend en ordre inverse.
            ``()`` donne un encodeur et un décodeur affines (VAE linéaire-gaussien avec
            ``likelihood="gaussian"``).
        likelihood: loi p_θ(x | z), parmi :data:`LIKELIHOODS` (voir le module).
        n_classes: nombre de classes pour un VAE **conditionnel** p_θ(x | z, y), q_φ(z | x, y) :
            l'étiquette y, codée en un-parmi-n, est concaténée aux entrées des deux réseaux.
        binomial_trials: nombre N d'essais de la loi binomiale (16 pour les chiffres :
            k = 16 x ∈ {0, …, 16}).
        prior: ``"normal"`` (défaut, p(z) = 𝒩(0, I), KL en forme close) ou ``"mixture"`` :
            a priori **appris**, mélange de ``n_components`` gaussiennes diagonales (la KL est
            alors estimée par Monte-Carlo, ln q(z | x) - ln p(z), avec le même tirage z).
        n_components: nombre de composantes de l'a priori ``"mixture"``.

    Shapes:
        ``encode`` : x ``(batch, D)`` → :class:`Posterior` de champs ``(batch, d)`` ;
        ``decode`` : z ``(batch, d)`` ou ``(K, batch, d)`` → :class:`DecoderOutput` de champs
        ``(…, D)``.
    """

    def __init__(self, data_dim: int = 64, latent_dim: int = 8, hidden: Sequence[int] = (256, 256),
                 likelihood: str = "binomial", n_classes: int | None = None, binomial_trials: int = 16,
                 prior: str = "normal", n_components: int = 10) -> None:
        super().__init__()
        self.data_dim = check_positive_int("data_dim", data_dim)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.n_classes = None if n_classes is None else check_positive_int("n_classes", n_classes, minimum=2)
        self.binomial_trials = check_positive_int("binomial_trials", binomial_trials)
        self.hidden = check_widths("hidden", hidden)
        c = self.n_classes or 0
        out = 2 * self.data_dim if likelihood == "gaussian" else self.data_dim
        self.encoder = MLP(self.data_dim + c, 2 * self.latent_dim, self.hidden)
        self.decoder = MLP(self.latent_dim + c, out, self.hidden[::-1])
        self.prior = check_choice("prior", prior, PRIORS)
        if prior == "mixture":
            k = check_positive_int("n_components", n_components, minimum=2)
            self.prior_means = nn.Parameter(torch.randn(k, self.latent_dim))
            self.prior_logvars = nn.Parameter(torch.zeros(k, self.latent_dim))
            self.prior_logits = nn.Parameter(torch.zeros(k))

    # -- a priori ----------------------------------------------------------------------
    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """ln p(z), sommé sur la dernière dimension ; forme ``z.shape[:-1]``."""
        if self.prior == "normal":
            return (-0.5 * z.square() - 0.5 * _LOG_2PI).sum(dim=-1)
        zc = z.unsqueeze(-2)  # (…, 1, d) contre les composantes (k, d)
        comp = (-0.5 * (zc - self.prior_means).square() * torch.exp(-self.prior_logvars)
                - 0.5 * self.prior_logvars - 0.5 * _LOG_2PI).sum(dim=-1)
        return torch.logsumexp(comp + torch.log_softmax(self.prior_logits, dim=0), dim=-1)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n tirages z ~ p(z), forme ``(n, latent_dim)``, sur le périphérique du modèle.

        Les tirages aléatoires sont faits sur le périphérique de ``generator`` (CPU par défaut
        si aucun générateur n'est donné et que le modèle est sur CPU).
        """
        n = check_positive_int("n", n, maximum=MAX_DRAWS)
        where = check_generator("generator", generator).device if generator is not None else self.device
        eps = standard_normal((n, self.latent_dim), generator=generator, device=self.device, dtype=module_dtype(self))
        if self.prior == "normal":
            return eps
        probs = torch.softmax(self.prior_logits.detach(), dim=0).to(where)
        idx = torch.multinomial(probs, n, replacement=True, generator=generator).to(self.device)
        return self.prior_means[idx] + torch.exp(0.5 * self.prior_logvars[idx]) * eps

    # -- conditionnement ------------------------------------------------------------
    def _with_label(self, h: torch.Tensor, y: torch.Tensor | int | None, name: str) -> torch.Tensor:
        if self.n_classes is None:
            if y is not None:
                raise ValueError("Ce VAE n'est pas conditionnel (n_classes=None) : ne passez pas y.")
            return h
        if y is None:
            raise ValueError(f"Ce VAE est conditionnel (n_classes={self.n_classes}) : {name} demande l'étiquette y.")
        y = torch.as_tensor(y, device=h.device)
        if y.is_floating_point():
            raise TypeError(f"y doit contenir des entiers (classes 0 à {self.n_classes - 1}), reçu {y.dtype}.")
        if y.ndim == 0:
            y = y.expand(h.shape[-2])
        if y.shape != h.shape[-2:-1]:
            raise ValueError(f"y doit être de forme ({h.shape[-2]},), reçu {tuple(y.shape)}.")
        if (y < 0).any() or (y >= self.n_classes).any():
            raise ValueError(f"y doit contenir des classes entre 0 et {self.n_classes - 1}.")
        onehot = F.one_hot(y.long(), self.n_classes).to(h.dtype).expand(*h.shape[:-1], self.n_classes)
        return torch.cat([h, onehot], dim=-1)

    # -- encodeur et décodeur ----------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> Posterior:
        """Loi a posteriori approchée q_φ(z | x [, y]) = 𝒩(mean, diag exp(logvar))."""
        x = as_tensor("x", x, dim=self.data_dim)
        mean, logvar = self.encoder(self._with_label(x, y, "encode")).chunk(2, dim=-1)
        return Posterior(mean, logvar.clamp(*_LOGVAR_BOUNDS))

    def decode(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> DecoderOutput:
        """Paramètres de p_θ(x | z [, y]) ; ``z`` de forme ``(batch, d)`` ou ``(K, batch, d)``."""
        if not isinstance(z, torch.Tensor) or z.shape[-1] != self.latent_dim or z.ndim not in (2, 3):
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z doit être un tenseur (batch, {self.latent_dim}) ou (K, batch, {self.latent_dim}), reçu {shape}.")
        h = self._with_label(z, y, "decode")
        out = self.decoder(h.reshape(-1, h.shape[-1])).reshape(*h.shape[:-1], -1)
        if self.likelihood == "gaussian":
            mean, raw = out.chunk(2, dim=-1)
            log_scale = _MIN_LOG_SCALE + F.softplus(raw - _MIN_LOG_SCALE)  # ln σ > -7, ≈ raw au-dessus
            return DecoderOutput(mean=mean, log_scale=log_scale)
        return DecoderOutput(mean=torch.sigmoid(out), logits=out)

    def decode_mean(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Espérance E[x | z] : des images dans [0, 1] (échelle ``load_digits("unit")``) pour les chiffres."""
        return self.decode(z, y).mean

    def log_likelihood(self, x: torch.Tensor, decoded: DecoderOutput) -> torch.Tensor:
        """ln p_θ(x | z) en nats, sommé sur les coordonnées ; forme ``decoded.mean.shape[:-1]``.

        Pour ``binomial``, x est ramené aux entiers k = round(N x) et la loi est celle de k
        (masse de probabilité sur {0, …, N}^D) ; pour ``gaussian``, c'est une densité sur ℝ^D.
        """
        if self.likelihood == "gaussian":
            z2 = ((x - decoded.mean) * torch.exp(-decoded.log_scale)).square()
            return (-0.5 * z2 - decoded.log_scale - 0.5 * _LOG_2PI).sum(dim=-1)
        logits = decoded.logits
        if bool(((x < -1e-6) | (x > 1 + 1e-6)).any()):
            raise ValueError(
                f"x doit être à l'échelle [0, 1] pour la loi {self.likelihood!r} du décodeur (pixels de "
                f"load_digits('unit')), reçu des valeurs de {float(x.min()):.3g} à {float(x.max()):.3g} : divisez des "
                "pixels 0–16 par 16, ou 0–255 par 255."
            )
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(dim=-1)
        n = self.binomial_trials
        k = torch.round(x * n).clamp(0, n)
        log_binom = torch.lgamma(torch.tensor(n + 1.0, dtype=x.dtype, device=x.device)) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
        ll = log_binom + k * F.logsigmoid(logits) + (n - k) * F.logsigmoid(-logits)
        return ll.sum(dim=-1)

    def sample_x(self, decoded: DecoderOutput, generator: torch.Generator | None = None) -> torch.Tensor:
        """Un tirage x ~ p_θ(x | z) (dans l'échelle des données) à partir de :meth:`decode`.

        Les tirages aléatoires sont faits sur le périphérique de ``generator`` (à défaut, sur
        celui de ``decoded``), puis déplacés sur celui de ``decoded``.
        """
        mean = decoded.mean
        where = generator.device if generator is not None else mean.device
        if self.likelihood == "gaussian":
            eps = standard_normal(tuple(mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
            return mean + decoded.log_scale.exp() * eps
        u = torch.rand(mean.shape, generator=generator, device=where, dtype=mean.dtype).to(mean.device)
        if self.likelihood == "bernoulli":
            return (u < mean).to(mean.dtype)
        n = self.binomial_trials  # somme de N bernoulli : k ~ Binomiale(N, p)
        u = torch.rand((n, *mean.shape), generator=generator, device=where, dtype=mean.dtype).to(mean.device)
        return (u < mean).sum(dim=0).to(mean.dtype) / n

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Reconstruction par la moyenne : Décodeur(μ_φ(x))."""
        return self.decode_mean(self.encode(x, y).mean, y)

    @property
    def device(self) -> torch.device:
        """Périphérique des paramètres du modèle."""
        return module_device(self)


# --------------------------------------------------------------------------------------
# ELBO, perte, borne IWAE
# --------------------------------------------------------------------------------------


def _split_batch(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Un mini-lot ``x`` ou un couple ``(y, x)`` / ``(x, y)`` → ``(x, y)`` (y : le tenseur entier)."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
        a, b = batch
        if a.is_floating_point() and not b.is_floating_point():
            return a, b
        if b.is_floating_point() and not a.is_floating_point():
            return b, a
    raise TypeError("batch doit être un tenseur x, ou un couple (y, x) avec y entier (étiquettes) et x réel.")


class ELBOTerms(NamedTuple):
    """Les deux termes de l'ELBO par donnée (nats), formes ``(batch,)``."""

    reconstruction: torch.Tensor  # estimation de E_q[-ln p_θ(x | z)]
    kl: torch.Tensor  # KL(q_φ(z | x) ‖ 𝒩(0, I)), forme close

    @property
    def elbo(self) -> torch.Tensor:
        return -self.reconstruction - self.kl


def elbo_terms(model: VAE, x: torch.Tensor, y=None, n_samples: int = 1,
               generator: torch.Generator | None = None) -> ELBOTerms:
    """Terme de reconstruction (Monte-Carlo, ``n_samples`` tirages reparamétrés) et KL (forme close)."""
    post = model.encode(x, y)
    z = reparameterize(post.mean, post.logvar, n_samples=n_samples, generator=generator)  # (K, B, d)
    rec = -model.log_likelihood(x, model.decode(z, y)).mean(dim=0)
    if model.prior == "normal":
        return ELBOTerms(rec, kl_diagonal_gaussians(post.mean, post.logvar))
    # a priori appris : KL estimée avec les mêmes tirages, E_q[ln q(z | x) - ln p(z)]
    kl = (_diag_normal_log_prob(z, post) - model.prior_log_prob(z)).mean(dim=0)
    return ELBOTerms(rec, kl)


def _diag_normal_log_prob(z: torch.Tensor, post: Posterior) -> torch.Tensor:
    """ln q(z | x) pour la gaussienne diagonale ``post`` ; z de forme ``(…, batch, d)``."""
    return (-0.5 * ((z - post.mean) / post.std).square() - 0.5 * post.logvar - 0.5 * _LOG_2PI).sum(dim=-1)


def kl_weight(iteration: int | None, kl_warmup: int = 0, beta: float = 1.0) -> float:
    """Poids de la KL à l'itération ``iteration`` : montée linéaire de 0 à β sur ``kl_warmup`` itérations.

        β_t = β · min(1, t / T_w)   (t = iteration ≥ 1, T_w = kl_warmup) ;

    β_t = β sans montée (``kl_warmup=0``) ou hors entraînement (``iteration=None`` : la
    validation mesure l'objectif final). Bowman et al. (2016) ; Sønderby et al. (2016).
    """
    beta = check_positive_real("beta", beta, allow_zero=True)
    kl_warmup = check_positive_int("kl_warmup", kl_warmup, minimum=0)
    if iteration is None or kl_warmup == 0:
        return beta
    iteration = check_positive_int("iteration", iteration)
    return beta * min(1.0, iteration / kl_warmup)


def free_bits_kl(mean: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """KL « à bits libres » (Kingma et al., 2016), a priori 𝒩(0, I), moyennée sur le lot.

        KL_λ = Σ_j max(λ, KL̄_j),   KL̄_j = (1/B) Σ_i KL(q_φ(z_j | x_i) ‖ 𝒩(0, 1)),

    λ = ``free_bits`` en nats par coordonnée du latent : tant qu'une coordonnée transporte
    moins de λ nats en moyenne sur le lot, la KL ne la pousse plus vers l'a priori (gradient
    nul), ce qui évite qu'elle s'éteigne en début d'entraînement. λ = 0 rend la KL ordinaire.

    Args:
        mean, logvar: paramètres de q, forme ``(B, d)``.
        free_bits: λ ≥ 0.

    Returns:
        Tenseur scalaire (nats).
    """
    free_bits = check_positive_real("free_bits", free_bits, allow_zero=True)
    per_coordinate = (0.5 * (mean.square() + logvar.exp() - logvar - 1.0)).mean(dim=0)
    return per_coordinate.clamp(min=free_bits).sum()


def loss(model: VAE, batch, beta: float = 1.0, *, kl_warmup: int = 0, free_bits: float = 0.0,
         iteration: int | None = None) -> dict[str, torch.Tensor]:
    """Perte de :func:`genmodels.train` : -ELBO moyenne, estimée avec un seul tirage reparamétré.

        L = (1/B) Σ_i [ -ln p_θ(x_i | μ_i + σ_i ⊙ ε_i) + β_t KL(q_φ(z | x_i) ‖ 𝒩(0, I)) ],  ε_i ~ 𝒩(0, I).

    Args:
        model: le VAE.
        batch: mini-lot ``x`` ``(B, D)``, ou ``(y, x)`` pour un VAE conditionnel.
        beta: poids de la KL (1 : l'ELBO ; β ≠ 1 donne le β-VAE, qui n'est plus une borne).
        kl_warmup: montée du poids de la KL, β_t = β · min(1, t / kl_warmup) (voir
            :func:`kl_weight`) ; 0 : pas de montée.
        free_bits: λ ≥ 0, bits libres par coordonnée du latent (voir :func:`free_bits_kl`,
            a priori ``"normal"`` seulement) ; 0 : KL ordinaire.
        iteration: itération courante t (≥ 1), que :func:`genmodels.train` passe d'elle-même
            (voir :func:`genmodels.training.takes_iteration`) ; ``None`` (validation, appel
            direct) : poids final β.

    Returns:
        ``{"loss", "reconstruction", "kl"}`` (moyennes sur le lot, en nats ; ``"kl"`` est la
        vraie KL, sans bits libres) : la boucle enregistre les courbes des deux termes.
    """
    weight = kl_weight(iteration, kl_warmup, beta)
    free_bits = check_positive_real("free_bits", free_bits, allow_zero=True)
    if free_bits > 0 and model.prior != "normal":
        raise ValueError(f"free_bits={free_bits} demande l'a priori « normal » (KL par coordonnée en forme close), "
                         f"pas prior={model.prior!r} : prenez free_bits=0.")
    x, y = _split_batch(batch)
    if free_bits == 0:
        terms = elbo_terms(model, x, y)
        rec, kl = terms.reconstruction.mean(), terms.kl.mean()
        return {"loss": rec + weight * kl, "reconstruction": rec, "kl": kl}
    post = model.encode(x, y)
    z = reparameterize(post.mean, post.logvar)
    rec = -model.log_likelihood(x, model.decode(z, y)).mean()
    kl = kl_diagonal_gaussians(post.mean, post.logvar).mean()
    return {"loss": rec + weight * free_bits_kl(post.mean, post.logvar, free_bits), "reconstruction": rec, "kl": kl}


@torch.no_grad()
def elbo(model: VAE, x: torch.Tensor, y=None, n_samples: int = 16, batch_size: int = 512,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """ELBO par donnée (nats), forme ``(n,)`` : E_q[ln p_θ(x | z)] (``n_samples`` tirages) - KL (forme close)."""
    x = as_tensor("x", x, dim=model.data_dim).to(model.device)
    y = None if y is None else torch.as_tensor(y, device=model.device)
    batch_size = check_positive_int("batch_size", batch_size)
    out = []
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        out.append(elbo_terms(model, x[sl], None if y is None else y[sl], n_samples, generator).elbo)
    return torch.cat(out)


@torch.no_grad()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 500, y=None, batch_size: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Borne à poids d'importance (Burda et al., 2016) : estimation de ln p_θ(x), forme ``(n,)``.

        L_K(x) = ln (1/K) Σ_k p_θ(x | z_k) p(z_k) / q_φ(z_k | x),   z_k ~ q_φ(z | x).

    E[L_1] = ELBO ≤ E[L_K] ≤ E[L_{K+1}] ≤ ln p_θ(x), et L_K → ln p_θ(x) quand K → ∞.
    Pour ``likelihood="binomial"``, c'est une log-probabilité (nats par image) des pixels
    entiers 0…16.

    Args:
        k: nombre K de tirages d'importance.
        batch_size: données traitées d'un coup (par défaut, environ 2·10⁵ / K).
    """
    k = check_positive_int("k", k)
    x = as_tensor("x", x, dim=model.data_dim).to(model.device)
    y = None if y is None else torch.as_tensor(y, device=model.device)
    batch_size = max(1, 200_000 // k) if batch_size is None else check_positive_int("batch_size", batch_size)
    out = []
    for start in range(0, x.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        xb, yb = x[sl], None if y is None else y[sl]
        post = model.encode(xb, yb)
        z = reparameterize(post.mean, post.logvar, n_samples=k, generator=generator)  # (K, B, d)
        log_px_z = model.log_likelihood(xb, model.decode(z, yb))
        log_pz = model.prior_log_prob(z)
        log_qz = _diag_normal_log_prob(z, post)
        out.append(torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k))
    return torch.cat(out)


# --------------------------------------------------------------------------------------
# Génération, reconstruction, interpolation
# --------------------------------------------------------------------------------------


@torch.no_grad()
def _decode_latents(model: VAE, z: torch.Tensor, y, mode: str, generator: torch.Generator | None) -> torch.Tensor:
    """Décode des latents ``z`` (n, latent_dim) : espérance E[x | z] (``"mean"``) ou tirage x ~ p_θ(x | z).

    Partagé par :func:`sample` (z ~ a priori) et :func:`sample_aggregate_posterior` (z ~ mélange
    ajusté). ``y`` : classe (entier) ou classes ``(n,)`` d'un VAE conditionnel. Le bruit de
    pixel est tiré sur le périphérique du générateur (voir :meth:`VAE.sample_x`).
    """
    if y is not None:
        y = torch.as_tensor(y, device=model.device)
        y = y.expand(z.shape[0]) if y.ndim == 0 else y
    decoded = model.decode(z, y)
    if mode == "mean":
        return decoded.mean
    return model.sample_x(decoded, generator=generator)


@torch.no_grad()
def sample(model: VAE, n: int, *, generator: torch.Generator | None = None, y=None,
           mode: str = "mean") -> torch.Tensor:
    """Génère n données : z ~ p(z) (𝒩(0, I), ou le mélange appris), puis x = Décodeur(z).

    Args:
        model: le VAE.
        n: nombre de données.
        generator: générateur PyTorch ; z (et le bruit de pixel) sont tirés sur son
            périphérique puis déplacés sur celui du modèle : un générateur CPU donne les
            mêmes tirages quel que soit le périphérique du modèle.
        y: pour un VAE conditionnel, la classe voulue (entier) ou un tenseur ``(n,)`` de classes.
        mode: ``"mean"`` (défaut) renvoie l'espérance E[x | z] (image dans [0, 1] pour les
            chiffres) ; ``"sample"`` ajoute le tirage x ~ p_θ(x | z) (bruit de pixel).

    Returns:
        ``(n, data_dim)`` sur le périphérique du modèle.
    """
    n = check_positive_int("n", n, maximum=MAX_DRAWS)
    check_choice("mode", mode, MODES)
    z = model.sample_prior(n, generator=generator)
    return _decode_latents(model, z, y, mode, generator)


def log_prob(model: VAE, x: torch.Tensor, *, k: int = 256, y=None) -> torch.Tensor:
    """Log-densité du VAE, estimée par la borne IWAE L_K(x) ≤ ln p_θ(x) : voir :func:`iwae_bound`.

    C'est une borne inférieure (:data:`DENSITY` vaut ``Density.BOUND``) : la NLL qu'on en
    déduit majore la vraie, et l'écart de KL aussi. Les tirages d'importance utilisent le
    générateur global de PyTorch.

    Args:
        model: le VAE.
        x: données ``(n, data_dim)``.
        k: nombre K de tirages d'importance par donnée.
        y: étiquettes ``(n,)`` d'un VAE conditionnel.

    Returns:
        ``(n,)`` en nats, sur le périphérique du modèle.
    """
    return iwae_bound(model, x, k=k, y=y)


def nfe(model: VAE, *, y=None, mode: str = "mean") -> int:
    """Évaluations de réseau pour un tirage : une seule, celle du décodeur (quel que soit ``mode``)."""
    check_choice("mode", mode, MODES)
    return 1


def sampling_parameters(model: VAE) -> int:
    """Nombre de paramètres entraînables du VAE (encodeur compris, comme pour les autres familles)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor, y=None) -> torch.Tensor:
    """Reconstruction Décodeur(μ_φ(x)) (moyenne du décodeur au centre de q_φ(z | x))."""
    x = as_tensor("x", x, dim=model.data_dim).to(model.device)
    return model(x, None if y is None else torch.as_tensor(y, device=model.device))


@torch.no_grad()
def interpolate(model: VAE, x_a: torch.Tensor, x_b: torch.Tensor, n_steps: int = 8) -> torch.Tensor:
    """Interpolation linéaire dans l'espace latent entre μ_φ(x_a) et μ_φ(x_b), décodée.

    Args:
        x_a, x_b: deux données ``(D,)`` ou ``(1, D)``.
        n_steps: nombre d'images (extrémités comprises, ≥ 2).

    Returns:
        ``(n_steps, D)`` : Décodeur((1 - t) μ_a + t μ_b) pour t = 0, …, 1.
    """
    n_steps = check_positive_int("n_steps", n_steps, minimum=2)
    ends = torch.stack([torch.as_tensor(x_a).reshape(-1), torch.as_tensor(x_b).reshape(-1)]).to(model.device)
    mu = model.encode(ends.to(module_dtype(model))).mean
    t = torch.linspace(0, 1, n_steps, device=model.device, dtype=mu.dtype)[:, None]
    return model.decode_mean((1 - t) * mu[0] + t * mu[1])


class GaussianBaseline:
    """Référence naïve : une gaussienne 𝒩(μ, Σ) ajustée aux pixels (covariance pleine).

    Tirages ramenés dans [0, 1] (l'échelle des images). C'est aussi le modèle linéaire-gaussien
    optimal, donc le meilleur « VAE linéaire » possible.

    Args:
        x: données ``(n, D)``.
        ridge: terme ajouté à la diagonale de Σ (pixels de variance nulle au bord des chiffres).
    """

    def __init__(self, x: torch.Tensor, ridge: float = 1e-4) -> None:
        x = as_tensor("x", x).double()
        ridge = check_positive_real("ridge", ridge, allow_zero=True)
        self.mean = x.mean(dim=0)
        cov = torch.cov(x.T) + ridge * torch.eye(x.shape[1], dtype=x.dtype)
        self.dist = torch.distributions.MultivariateNormal(self.mean, covariance_matrix=cov)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images ``(n, D)`` en float32, dans [0, 1]."""
        n = check_positive_int("n", n, maximum=MAX_DRAWS)
        where = check_generator("generator", generator).device if generator is not None else self.mean.device
        eps = torch.randn(n, self.mean.shape[0], generator=generator, device=where, dtype=torch.float64).to(self.mean.device)
        x = self.mean + eps @ self.dist.scale_tril.T
        return x.clamp(0, 1).float()


class AggregatePosteriorGMM(NamedTuple):
    """Mélange de gaussiennes (covariances pleines) ajusté *après coup* aux codes μ_φ(x).

    Estimateur de densité « ex post » de la loi agrégée des codes (Ghosh et al., 2020) : ce
    n'est **pas** l'a priori du VAE (l'ELBO et la borne IWAE restent celles de p(z)), mais une
    autre façon de tirer des codes, puis de les décoder.

    Attributes:
        weights: poids ``(K,)``.
        means: moyennes ``(K, d)``.
        scale_tril: facteurs de Cholesky des covariances ``(K, d, d)``.
    """

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor


@torch.no_grad()
def fit_aggregate_posterior(model: VAE, x: torch.Tensor, y=None, n_components: int = 20,
                            seed: int = 0) -> AggregatePosteriorGMM:
    """Ajuste (EM de scikit-learn, sur CPU) un mélange de ``n_components`` gaussiennes aux moyennes μ_φ(x).

    Args:
        model: VAE entraîné.
        x: données d'apprentissage ``(n, D)`` (jamais les données de test).
        y: étiquettes, pour un VAE conditionnel.
        n_components: nombre de composantes K (≤ n).
        seed: graine de l'initialisation de l'EM.
    """
    x = as_tensor("x", x, dim=model.data_dim).to(model.device)
    n_components = check_positive_int("n_components", n_components)
    if n_components > x.shape[0]:
        raise ValueError(f"n_components doit être ≤ {x.shape[0]} (nombre de données), reçu {n_components}.")
    codes = model.encode(x, None if y is None else torch.as_tensor(y, device=model.device)).mean
    gmm = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-5, random_state=seed)
    gmm.fit(codes.double().cpu().numpy())
    cov = torch.as_tensor(gmm.covariances_, dtype=torch.float64)
    return AggregatePosteriorGMM(torch.as_tensor(gmm.weights_, dtype=torch.float64),
                                 torch.as_tensor(gmm.means_, dtype=torch.float64), torch.linalg.cholesky(cov))


@torch.no_grad()
def sample_aggregate_posterior(model: VAE, gmm: AggregatePosteriorGMM, n: int, y=None,
                               generator: torch.Generator | None = None, mode: str = "mean") -> torch.Tensor:
    """Génère n données : z selon le mélange ``gmm`` (tiré sur CPU), puis x = Décodeur(z).

    ``mode`` comme dans :func:`sample` (``"mean"`` ou ``"sample"``). Résultat sur le périphérique du modèle.
    """
    n = check_positive_int("n", n, maximum=MAX_DRAWS)
    check_choice("mode", mode, MODES)
    where = check_generator("generator", generator).device if generator is not None else gmm.weights.device
    idx = torch.multinomial(gmm.weights.to(where), n, replacement=True, generator=generator).to(gmm.means.device)
    eps = torch.randn(n, gmm.means.shape[1], 1, generator=generator, device=where, dtype=torch.float64)
    z = (gmm.means[idx] + (gmm.scale_tril[idx] @ eps.to(gmm.means.device)).squeeze(-1)).to(model.device, module_dtype(model))
    return _decode_latents(model, z, y, mode, generator)


class DigitsSampleScores(NamedTuple):
    """Distances de Fréchet (caractéristiques du classifieur fixe) aux 360 chiffres de test.

    Attributes:
        model_mean: tirages du modèle, moyenne du décodeur E[x | z] (images lisses).
        model_sample: tirages complets x ~ p_θ(x | z) (avec le bruit de pixel du décodeur).
        baseline: gaussienne ajustée aux pixels d'apprentissage (:class:`GaussianBaseline`).
        floor: plancher de bruit, n vraies images d'apprentissage contre les images de test
            (moyenne sur ``n_floor`` tirages de n images).
        floor_values: les valeurs du plancher.
        precision_sample, recall_sample: précision et rappel des tirages complets (protocole de
            :func:`genmodels.metrics.digits_evaluation`).
    """

    model_mean: float
    model_sample: float
    baseline: float
    floor: float
    floor_values: tuple[float, ...]
    precision_sample: float
    recall_sample: float


@torch.no_grad()
def digits_sample_scores(model: VAE, data: DigitsData, n: int = 1000, seed: int = 0, n_floor: int = 5) -> DigitsSampleScores:
    """Compare les tirages d'un VAE de chiffres à une référence naïve et au plancher de bruit.

    Toutes les distances sont calculées contre les mêmes images de test, avec n images
    générées (ou réelles) : elles sont directement comparables. Pour un VAE conditionnel,
    les classes sont tirées selon leurs fréquences d'apprentissage.

    Args:
        model: VAE entraîné sur ``data`` (échelle [0, 1]).
        data: :class:`genmodels.datasets.DigitsData` (``"unit"``).
        n: nombre d'images générées (≤ nombre d'images d'apprentissage).
        seed: graine des tirages.
        n_floor: nombre de tirages du plancher.
    """
    if not isinstance(data, DigitsData):
        raise TypeError(f"data doit être des chiffres genmodels.datasets.DigitsData (load_digits('unit')), reçu "
                        f"{type(data).__name__}.")
    n = check_positive_int("n", n)
    if n > data.x_train.shape[0]:
        raise ValueError(f"n doit être ≤ {data.x_train.shape[0]} (taille de la base d'apprentissage), reçu {n}.")
    g = torch.Generator().manual_seed(seed)
    y = None
    if model.n_classes is not None:
        y = data.y_train[torch.randint(0, data.y_train.shape[0], (n,), generator=g)].to(model.device)
    model_dev = torch.Generator(device=model.device).manual_seed(seed)
    fd_mean = digits_frechet_distance(sample(model, n, y=y, generator=model_dev).cpu(), data.x_test)
    full = digits_evaluation(sample(model, n, y=y, generator=model_dev, mode="sample").cpu(), data.x_test)
    fd_base = digits_frechet_distance(GaussianBaseline(data.x_train).sample(n, generator=g), data.x_test)
    floor = tuple(
        digits_frechet_distance(data.x_train[torch.randperm(data.x_train.shape[0], generator=g)[:n]], data.x_test)
        for _ in range(check_positive_int("n_floor", n_floor))
    )
    return DigitsSampleScores(fd_mean, full.fd, fd_base, sum(floor) / len(floor), floor, full.precision, full.recall)
