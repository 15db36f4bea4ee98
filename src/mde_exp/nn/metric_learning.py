"""Losses of Siamese networks (book section 6.5) on the pairs and triplets that a labelled batch forms.

Every pair (i, j), i < j, of a batch is a positive pair when the labels agree and a negative pair
otherwise; a triplet (anchor a, positive p, negative n) has y_a = y_p != y_n, a != p. Distances are
Euclidean: of pairs through torch's `pairwise_distance` (which adds 1e-6 to each difference, so that
the gradient stays finite at distance zero), of triplets from the batch's distance matrix.
"""

import torch
import torch.nn.functional as F

LOSSES = ("contrastive", "triplet")
MININGS = ("hard", "all")


def batch_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every pair i < j of a batch: the indices (first, second) and whether the labels agree."""
    first, second = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
    return first, second, labels[first] == labels[second]


def pair_distances(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distance between the embeddings of every pair of the batch, and whether the pair is positive."""
    first, second, same = batch_pairs(labels)
    return F.pairwise_distance(embeddings[first], embeddings[second]), same


def contrastive_pair_loss(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Hadsell, Chopra and LeCun's (2006) contrastive loss, D^2 / 2 for a positive pair and
    max(0, m - D)^2 / 2 for a negative one, averaged over the positive pairs and over the negative pairs
    separately and added: a batch of ten classes has about nine negative pairs for each positive one,
    and the two kinds count equally. A batch with no pair of one kind adds nothing for that kind."""
    positive = 0.5 * distance.pow(2)
    negative = 0.5 * F.relu(margin - distance).pow(2)
    same = same.to(distance.dtype)
    different = 1.0 - same
    positives = (positive * same).sum() / same.sum().clamp(min=1.0)
    negatives = (negative * different).sum() / different.sum().clamp(min=1.0)
    return positives + negatives


def contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """The contrastive loss over every pair of the batch (see `contrastive_pair_loss`)."""
    distance, same = pair_distances(embeddings, labels)
    return contrastive_pair_loss(distance, same, margin)


def distance_matrix(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """B x B Euclidean distances between a batch's embeddings, with a finite gradient everywhere (the
    square root is taken of the squared distance clamped below at `eps`: zero gradient at zero)."""
    squared = (embeddings[:, None, :] - embeddings[None, :, :]).pow(2).sum(-1)
    return squared.clamp(min=eps).sqrt()


def triplet_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B x B masks: positive[a, p] (same label, a != p) and negative[a, n] (different labels)."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float, mining: str = "hard"
) -> torch.Tensor:
    """The triplet loss max(0, d(a, p) - d(a, n) + m) (Schroff et al., 2015), in its pairwise form on the
    batch's distance matrix, over the triplets (anchor a, positive p, negative n) that `mining` picks.

    `hard` ("batch hard", Hermans, Beyer and Leibe, 2017): for each anchor with a positive and a negative
    in the batch, its farthest positive and nearest negative; the mean over those anchors. `all`: every
    valid triplet; the mean over the triplets that still violate the margin ("batch all"). A batch with
    no valid triplet gives zero (with a gradient of zeros).
    """
    if mining not in MININGS:
        raise ValueError(f"unknown triplet mining {mining!r}; choose one of: {', '.join(MININGS)}")
    distance = distance_matrix(embeddings)
    positive, negative = triplet_masks(labels)
    if mining == "hard":
        anchors = positive.any(1) & negative.any(1)
        if not anchors.any():
            return embeddings.sum() * 0.0
        farthest = distance.masked_fill(~positive, float("-inf")).amax(1)
        nearest = distance.masked_fill(~negative, float("inf")).amin(1)
        return F.relu(farthest - nearest + margin)[anchors].mean()
    valid = positive[:, :, None] & negative[:, None, :]
    losses = F.relu(distance[:, :, None] - distance[:, None, :] + margin) * valid
    return losses.sum() / (losses > 0).sum().clamp(min=1)
