"""The options of ``multitask_clips`` (MOL) and the network options they imply."""

from __future__ import annotations

from dataclasses import dataclass

from merkit.errors import ConfigError
from merkit.inputs.clips import MOLDataConfig

__all__ = ["MultitaskClipsOptions", "arch_options"]

#: Settings of the pre-port ``model.options`` that now live in ``[train]``.
_TRAIN_KEYS = ("steps", "eval_every", "optimizer")
#: Constructor options the method sets from the loss weights.
_HEAD_KEYS = ("flow_head", "landmark_head")


@dataclass(frozen=True)
class MultitaskClipsOptions:
    """``[method] options`` of ``multitask_clips``.

    Attributes:
        lambda_of: weight of the flow loss (10; 0 drops the flow head).
        lambda_ldm: weight of the landmark loss (0.1 README, 0.5 code default; 0 drops the head).
        lambda_ce: weight of the recognition loss (1; 0 trains the auxiliary heads alone, the paper's
            "MOL w/o MER" rows of Tables XIV and XV).
        hflip: random horizontal flips (paper yes, code no).
        flow_pairs: frame pairs of each clip whose flow is predicted and supervised per training step:
            0 (default, paper and code) all T - 1; ``k`` a fresh random ``k`` of them per clip and step,
            the flow loss still divided by T - 1, so it is an unbiased estimate of the full loss at
            ``k / (T - 1)`` of the flow head's cost (``docs/models/mol.md``; the CPU configs use 1).
        aggregate: clip -> video: ``"mean_prob"`` or ``"mean_logit"``.
        pretrained: path of a state dict from :func:`~merkit.training.methods.clip_training.pretrain_mol`
            ("" none).
        max_clips, flow, frames, align_size, crop_size: see :class:`~merkit.inputs.clips.MOLDataConfig`.
    """

    lambda_of: float = 10.0
    lambda_ldm: float = 0.1
    lambda_ce: float = 1.0
    hflip: bool = False
    flow_pairs: int = 0
    aggregate: str = "mean_prob"
    pretrained: str = ""
    max_clips: int = 0
    flow: str = "tvl1"
    frames: str = "video"
    align_size: int = 144
    crop_size: int = 128

    def __post_init__(self) -> None:
        if self.lambda_of < 0 or self.lambda_ldm < 0 or self.lambda_ce < 0:
            raise ConfigError(f"method.options lambda_of, lambda_ldm and lambda_ce must be >= 0; got "
                              f"{self.lambda_of}, {self.lambda_ldm}, {self.lambda_ce}.")
        if self.lambda_ce == 0 and self.lambda_of == 0 and self.lambda_ldm == 0:
            raise ConfigError("method.options lambda_ce, lambda_of and lambda_ldm are all 0: nothing would be "
                              "trained.")
        if self.flow_pairs < 0:
            raise ConfigError(f"method.options.flow_pairs must be >= 0 (0: every pair of the clip); got "
                              f"{self.flow_pairs!r}.")
        if self.aggregate not in ("mean_prob", "mean_logit"):
            raise ConfigError(f"method.options.aggregate must be 'mean_prob' or 'mean_logit'; got {self.aggregate!r}.")
        self.data_config(8)  # validates max_clips, frames, align_size and crop_size

    def data_config(self, num_frames: int, cache_dir: str = "") -> MOLDataConfig:
        """The clip preparation of these options for ``num_frames``-frame clips."""
        return MOLDataConfig(num_frames=num_frames, align_size=self.align_size, crop_size=self.crop_size,
                             flow=self.flow, max_clips=self.max_clips, frames=self.frames, cache_dir=cache_dir)


def arch_options(model_options: dict, options: MultitaskClipsOptions) -> dict:
    """MOL constructor options for training: ``[model] options`` plus the heads the loss weights need.

    ``img_size`` defaults to ``options.crop_size``.

    Raises:
        ConfigError: ``[model] options`` holds a setting that moved to ``[train]``, or a head switch
            (the heads follow ``lambda_of`` / ``lambda_ldm``).
    """
    moved = [k for k in _TRAIN_KEYS if k in model_options]
    if moved:
        raise ConfigError(f"model.options {moved!r} are loop settings of multitask_clips now: move them to the "
                          f"[train] section ({', '.join(f'{k} = {model_options[k]!r}' for k in moved)}).")
    heads = [k for k in _HEAD_KEYS if k in model_options]
    if heads:
        raise ConfigError(f"model.options {heads!r} are set by multitask_clips from the loss weights "
                          f"(flow_head: lambda_of > 0, landmark_head: lambda_ldm > 0); remove them.")
    arch = dict(model_options)
    pairs = int(arch.get("num_frames", 8)) - 1
    if options.flow_pairs > pairs:
        raise ConfigError(f"method.options.flow_pairs = {options.flow_pairs} but a clip of "
                          f"{pairs + 1} frames has {pairs} pairs; use 0 (all) or at most {pairs}.")
    arch["flow_head"] = options.lambda_of > 0
    arch["landmark_head"] = options.lambda_ldm > 0
    arch.setdefault("img_size", options.crop_size)
    return arch
