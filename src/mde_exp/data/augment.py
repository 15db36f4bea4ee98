"""Batch augmentation on the training device: random crops with zero padding and horizontal flips."""

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "crop_flip")


def random_crop_flip(images: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Each image (N x C x H x W) padded by `padding` zeros, cropped back to H x W at a random offset,
    and mirrored left-right with probability 1/2: the CIFAR-10 augmentation, done as one gather on the
    batch's own device (random numbers from torch's global generator, seeded with the run)."""
    n, _, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=device)
    rows = (torch.arange(h, device=device).view(1, h, 1) + dy).expand(n, h, w)
    cols = torch.arange(w, device=device).view(1, 1, w) + dx
    flip = torch.rand(n, 1, 1, device=device) < 0.5
    cols = torch.where(flip, 2 * dx + w - 1 - cols, cols).expand(n, h, w)
    batch = torch.arange(n, device=device).view(n, 1, 1).expand(n, h, w)
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def augment(kind: str, images: torch.Tensor) -> torch.Tensor:
    if kind == "none":
        return images
    if kind == "crop_flip":
        return random_crop_flip(images)
    raise ValueError(f"augment={kind!r}: choose one of {', '.join(AUGMENTATIONS)}")
