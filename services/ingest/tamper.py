"""Tamper findings (Art. 12): covered, moved, blurred — a sampled frame against the
camera's reference frame, numpy only.

Why these measures:
- covered: a hand, tape or a bag leaves a dark or featureless picture. Absolute brightness and
  contrast catch it without a reference; "lost most of its contrast and edges compared with
  the reference" catches a cover that lets light through.
- moved: the picture's structure no longer matches the reference. We compare band-passed,
  contrast-normalised thumbnails by zero-mean normalised cross-correlation, best over small
  shifts: insensitive to brightness changes, to vibration of a few pixels, to people passing
  and to blur (the band keeps coarse structure), but not to a new view.
- blurred: the variance of the Laplacian (sharpness) fell to a fraction of the reference's.
A finding never replaces the reference: only an operator's confirmation does
(`confirm_reference`), so a covered or turned camera cannot teach us that this is normal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

WORK_WIDTH = 160
WORK_HEIGHT = 120
THUMB_WIDTH = 80
THUMB_HEIGHT = 60


class TamperKind(enum.StrEnum):
    COVERED = "covered"
    MOVED = "moved"
    BLURRED = "blurred"


TAMPER_TEXT: dict[TamperKind, str] = {
    TamperKind.COVERED: "镜头遮挡 / lens covered",
    TamperKind.MOVED: "摄像机被移动（画面改变） / camera moved (scene changed)",
    TamperKind.BLURRED: "画面模糊 / picture blurred",
}


@dataclass(frozen=True)
class TamperThresholds:
    """Per-camera thresholds; defaults suit an ordinary outdoor or corridor camera.

    A camera that looks at a dark car park at night would get a lower `dark_mean`, one that
    looks at a blank wall a lower `featureless_std`, one on a windy pole a lower
    `moved_min_similarity`.
    """

    dark_mean: float = 20.0  # mean grey level (0-255) below which the picture is dark
    featureless_std: float = 6.0  # standard deviation below which it is featureless
    relative_contrast: float = 0.25  # covered if contrast < this x reference contrast ...
    relative_edges: float = 0.15  # ... and edge energy < this x reference edge energy
    blind_fraction: float = 0.5  # covered if this share of the reference's textured blocks
    # went dark or flat (a partial cover: a bag over most of the dome)
    moved_min_similarity: float = 0.6  # structural similarity below which the scene moved
    max_shift: int = 3  # thumbnail pixels of tolerated shift (≈4 % of the width)
    blur_ratio: float = 0.35  # blurred if sharpness < this x reference sharpness

    def __post_init__(self) -> None:
        for name in ("relative_contrast", "relative_edges", "blur_ratio", "blind_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"TamperThresholds.{name} must be between 0 and 1, not {value}")
        if not -1.0 <= self.moved_min_similarity <= 1.0:
            raise ValueError("TamperThresholds.moved_min_similarity must be within [-1, 1]")
        if self.max_shift < 0 or self.dark_mean < 0 or self.featureless_std < 0:
            raise ValueError("TamperThresholds: max_shift, dark_mean, featureless_std >= 0")


@dataclass(frozen=True)
class FrameStats:
    """Measures of one frame at the working size."""

    mean: float
    std: float
    edge_energy: float  # mean gradient magnitude
    sharpness: float  # fine detail over medium detail (see `sharpness`)


@dataclass(frozen=True)
class ReferenceFrame:
    """The picture the camera is supposed to show, confirmed by an operator."""

    camera_id: str
    work: np.ndarray = field(repr=False)  # float32 WORK_HEIGHT x WORK_WIDTH
    structure: np.ndarray = field(repr=False)  # band-passed normalised thumbnail
    block_std: np.ndarray = field(repr=False)  # contrast of each block of the grid
    stats: FrameStats
    confirmed_by: str
    confirmed_at: datetime


@dataclass(frozen=True)
class TamperFinding:
    kind: TamperKind
    measured: float
    threshold: float
    detail: str

    @property
    def text(self) -> str:
        return f"{TAMPER_TEXT[self.kind]}: {self.detail}"


@dataclass(frozen=True)
class TamperAssessment:
    """The outcome of checking one frame; `findings` empty means nothing wrong."""

    camera_id: str
    stats: FrameStats
    similarity: float | None  # structural similarity to the reference
    sharpness_ratio: float | None
    findings: tuple[TamperFinding, ...]
    has_reference: bool

    @property
    def kinds(self) -> frozenset[TamperKind]:
        return frozenset(f.kind for f in self.findings)


# ---- image helpers (numpy only) ---------------------------------------------------------
def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8/float grey or RGB (H x W x 3) → float32 grey."""
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    elif a.ndim != 2:
        raise ValueError(f"a frame must be H x W or H x W x 3, not shape {a.shape}")
    return a.astype(np.float32, copy=False)


def resize_area(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average resize (exact for integer factors, bilinear-sampled otherwise)."""
    h, w = img.shape
    if (h, w) == (height, width):
        return img.astype(np.float32, copy=True)
    if h % height == 0 and w % width == 0:
        fy, fx = h // height, w // width
        return img.reshape(height, fy, width, fx).mean(axis=(1, 3), dtype=np.float32)
    ys = (np.arange(height) + 0.5) * h / height - 0.5
    xs = (np.arange(width) + 0.5) * w / width - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None].astype(np.float32)
    wx = np.clip(xs - x0, 0, 1)[None, :].astype(np.float32)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def box_blur(img: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur with edge padding (float32)."""
    if radius <= 0:
        return img.astype(np.float32, copy=True)
    k = 2 * radius + 1
    p = np.pad(img, ((radius + 1, radius), (0, 0)), mode="edge").cumsum(axis=0, dtype=np.float64)
    out = (p[k:] - p[:-k]) / k
    p = np.pad(out, ((0, 0), (radius + 1, radius)), mode="edge").cumsum(axis=1)
    return ((p[:, k:] - p[:, :-k]) / k).astype(np.float32)


def laplacian_variance(img: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: high for sharp pictures, low for blurred ones."""
    lap = img[1:-1, :-2] + img[1:-1, 2:] + img[:-2, 1:-1] + img[2:, 1:-1] - 4.0 * img[1:-1, 1:-1]
    return float(lap.var())


def edge_energy(img: np.ndarray) -> float:
    gy = np.abs(np.diff(img, axis=0)).mean()
    gx = np.abs(np.diff(img, axis=1)).mean()
    return float(gx + gy)


def sharpness(work: np.ndarray) -> float:
    """Fine detail relative to coarse detail: the variance of the Laplacian over the variance
    of the picture minus its local mean (a 21-pixel window). Blur removes the first far
    faster than the second; lighting changes scale both alike; a dark patch removes both
    alike. So the ratio to the reference's value reads as blur, and little else."""
    coarse = work - box_blur(work, 10)
    return laplacian_variance(work) / max(float(coarse.var()), 1.0)


def frame_stats(work: np.ndarray) -> FrameStats:
    return FrameStats(
        mean=float(work.mean()),
        std=float(work.std()),
        edge_energy=edge_energy(work),
        sharpness=sharpness(work),
    )


def structure_map(work: np.ndarray) -> np.ndarray:
    """Band-passed, locally contrast-normalised thumbnail: the scene's layout.

    Low-passing first makes it blind to blur and noise; removing the local mean and dividing
    by the local contrast makes it blind to lighting; what is left is where things are.
    """
    thumb = resize_area(work, THUMB_HEIGHT, THUMB_WIDTH)
    smooth = box_blur(box_blur(thumb, 1), 1)
    detail = smooth - box_blur(smooth, 6)
    local = np.sqrt(box_blur(detail * detail, 6)) + 2.0
    return (detail / local).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray, max_shift: int) -> float:
    """Best zero-mean normalised cross-correlation of two structure maps over shifts of up
    to `max_shift` pixels (the centre of `a` slides over `b`)."""
    h, w = a.shape
    m = max_shift
    za = a[m : h - m, m : w - m]
    za = za - za.mean()
    na = float(np.sqrt((za * za).sum()))
    best = -1.0
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            zb = b[m + dy : h - m + dy, m + dx : w - m + dx]
            zb = zb - zb.mean()
            nb = float(np.sqrt((zb * zb).sum()))
            if na < 1e-6 and nb < 1e-6:
                return 1.0  # both featureless: nothing says the scene changed
            if na < 1e-6 or nb < 1e-6:
                continue
            best = max(best, float((za * zb).sum()) / (na * nb))
    return best


GRID = 8  # blocks per side for the partial-cover check


def block_stats(work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each block of a GRID x GRID split."""
    h, w = work.shape
    blocks = work[: h - h % GRID, : w - w % GRID].reshape(GRID, h // GRID, GRID, w // GRID)
    return blocks.mean(axis=(1, 3)), blocks.std(axis=(1, 3))


def prepare(frame: np.ndarray) -> np.ndarray:
    """Any frame → float32 grey at the working size."""
    return resize_area(to_gray(frame), WORK_HEIGHT, WORK_WIDTH)


# ---- the checks -------------------------------------------------------------------------
def _covered(
    work: np.ndarray, stats: FrameStats, reference: ReferenceFrame | None, t: TamperThresholds
) -> TamperFinding | None:
    """Dark, featureless, or (against the reference) most of the detail gone."""
    if stats.mean < t.dark_mean:
        return TamperFinding(
            TamperKind.COVERED,
            stats.mean,
            t.dark_mean,
            f"画面过暗 mean brightness {stats.mean:.1f} < {t.dark_mean:g}",
        )
    if stats.std < t.featureless_std:
        return TamperFinding(
            TamperKind.COVERED,
            stats.std,
            t.featureless_std,
            f"画面无特征 contrast {stats.std:.1f} < {t.featureless_std:g}",
        )
    if reference is None:
        return None
    rs = reference.stats
    contrast_ratio = stats.std / max(rs.std, 1e-6)
    edge_ratio = stats.edge_energy / max(rs.edge_energy, 1e-6)
    if contrast_ratio < t.relative_contrast and edge_ratio < t.relative_edges:
        return TamperFinding(
            TamperKind.COVERED,
            contrast_ratio,
            t.relative_contrast,
            f"对比度与边缘骤降 contrast at {contrast_ratio:.0%} and edges at {edge_ratio:.0%} "
            "of the reference",
        )
    mean_b, std_b = block_stats(work)
    textured = reference.block_std >= t.featureless_std
    blind = textured & ((mean_b < t.dark_mean) | (std_b < t.featureless_std))
    share = float(blind.sum()) / max(int(textured.sum()), 1)
    if textured.any() and share >= t.blind_fraction:
        return TamperFinding(
            TamperKind.COVERED,
            share,
            t.blind_fraction,
            f"画面大部分被遮挡 {share:.0%} of the reference's detailed area went dark or flat "
            f"(>= {t.blind_fraction:.0%})",
        )
    return None


def assess(
    camera_id: str,
    frame: np.ndarray,
    reference: ReferenceFrame | None,
    thresholds: TamperThresholds | None = None,
) -> TamperAssessment:
    """Check one sampled frame. Pure: the reference is read, never changed.

    Without a reference only "covered" can be judged. Covered hides the rest (a covered
    camera also looks moved and blurred), so when it is found the other two are not reported.
    """
    t = thresholds or TamperThresholds()
    if reference is not None and reference.camera_id != camera_id:
        raise ValueError(
            f"reference frame belongs to camera {reference.camera_id!r}, not {camera_id!r}"
        )
    work = prepare(frame)
    stats = frame_stats(work)
    findings: list[TamperFinding] = []
    covered = _covered(work, stats, reference, t)
    if covered is not None:
        findings.append(covered)
    sim: float | None = None
    ratio: float | None = None
    if reference is not None:
        sim = similarity(reference.structure, structure_map(work), t.max_shift)
        ratio = stats.sharpness / max(reference.stats.sharpness, 1e-6)
        if covered is None and sim < t.moved_min_similarity:
            findings.append(
                TamperFinding(
                    TamperKind.MOVED,
                    sim,
                    t.moved_min_similarity,
                    f"画面与参考不符 similarity to the reference {sim:.2f} < "
                    f"{t.moved_min_similarity:g}",
                )
            )
        if covered is None and ratio < t.blur_ratio:
            findings.append(
                TamperFinding(
                    TamperKind.BLURRED,
                    ratio,
                    t.blur_ratio,
                    f"画面模糊 sharpness at {ratio:.0%} of the reference (< {t.blur_ratio:.0%})",
                )
            )
    return TamperAssessment(
        camera_id=camera_id,
        stats=stats,
        similarity=sim,
        sharpness_ratio=ratio,
        findings=tuple(findings),
        has_reference=reference is not None,
    )


def _reference(
    camera_id: str, work: np.ndarray, confirmed_by: str, confirmed_at: datetime
) -> ReferenceFrame:
    for arr in (work,):
        arr.flags.writeable = False  # a reference is never edited in place
    structure, block_std = structure_map(work), block_stats(work)[1]
    structure.flags.writeable = False
    block_std.flags.writeable = False
    return ReferenceFrame(
        camera_id=camera_id,
        work=work,
        structure=structure,
        block_std=block_std,
        stats=frame_stats(work),
        confirmed_by=confirmed_by,
        confirmed_at=confirmed_at,
    )


def confirm_reference(
    camera_id: str,
    frame: np.ndarray,
    operator: str,
    *,
    at: datetime | None = None,
    thresholds: TamperThresholds | None = None,
) -> ReferenceFrame:
    """An operator confirms that this frame is what the camera should show.

    The only way a reference is set or refreshed (e.g. after an approved move, Art. 8).
    A frame that itself looks covered is refused: it could never serve as a reference.
    """
    if not operator or not operator.strip():
        raise ValueError("a reference frame must be confirmed by a named operator (Art. 12)")
    work = np.rint(prepare(frame)).clip(0, 255).astype(np.float32)
    stats = frame_stats(work)
    t = thresholds or TamperThresholds()
    if stats.mean < t.dark_mean or stats.std < t.featureless_std:
        raise ValueError(
            f"camera {camera_id}: this frame looks covered (mean {stats.mean:.1f}, contrast "
            f"{stats.std:.1f}) and cannot be confirmed as the reference (Art. 12)"
        )
    return _reference(camera_id, work, operator.strip(), at or datetime.now(UTC))


def reference_pixels(reference: ReferenceFrame) -> np.ndarray:
    """The reference as the uint8 grey picture that is stored (WORK_HEIGHT x WORK_WIDTH)."""
    return np.clip(np.rint(reference.work), 0, 255).astype(np.uint8)


def restore_reference(
    camera_id: str, pixels: np.ndarray, confirmed_by: str, confirmed_at: datetime
) -> ReferenceFrame:
    """Rebuild a stored, already-confirmed reference (no new confirmation happens here)."""
    if pixels.shape != (WORK_HEIGHT, WORK_WIDTH):
        raise ValueError(
            f"stored reference of {camera_id} has shape {pixels.shape}, "
            f"expected {(WORK_HEIGHT, WORK_WIDTH)}"
        )
    return _reference(camera_id, pixels.astype(np.float32), confirmed_by, confirmed_at)
