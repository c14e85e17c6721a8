"""Pictures the chapters share (chapter 00, "MNIST").

Each function draws into a Matplotlib axes (a new figure when none is given) and
returns it, so a chapter can place several plots side by side.
"""

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def image_grid(images, ncols=10, title=None, ax=None, cmap="gray"):
    """Show images as one grid.

    ``images``: (n, H, W) or (n, H, W, C) with values in [0, 1]; C is 1 or 3. The
    last row is padded with blank cells.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (n, H, W[, C]), got {images.shape}")
    n, h, w = images.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    pad = 1
    grid = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad) + images.shape[3:], np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    ax = _axes(ax, (ncols * 0.8, nrows * 0.8))
    ax.imshow(np.clip(grid, 0, 1), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def history(hist, keys=None, ax=None, title=None, logy=False):
    """Plot training curves from a Keras ``History`` (or its ``.history`` dict).

    ``keys``: which metrics to draw (default: all of them).
    """
    data = getattr(hist, "history", hist)
    keys = list(keys or data.keys())
    ax = _axes(ax, (6, 3.5))
    for key in keys:
        values = data[key]
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=key)
    ax.set_xlabel("epoch")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def density_2d(log_density, xlim, ylim, points=None, ax=None, title=None, resolution=150):
    """Contour a 2-D density and (optionally) scatter points over it.

    ``log_density``: a function from an (m, 2) array to (m,) log-densities.
    ``points``: (n, 2) samples or data to overlay.
    """
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    z = np.exp(np.asarray(log_density(grid), dtype=np.float64)).reshape(gx.shape)
    ax = _axes(ax, (4.5, 4))
    ax.contourf(gx, gy, z, levels=20, cmap="viridis")
    if points is not None:
        points = np.asarray(points)
        ax.scatter(points[:, 0], points[:, 1], s=4, c="white", alpha=0.6, edgecolors="none")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax
