"""The M2M training loop: frozen SAM, DDP, checkpoints, resume, validation, logs.

One function, `train(config, on_step)`, serves a single CPU or GPU and `torchrun` (one
process per GPU or CPU slot; the rank helper is `mamcli.runtime.distributed`). Rank 0
writes every file and reports progress through `on_step`; the loop itself prints nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from mamcli.errors import InputError, MamError
from mamcli.hub.checkpoint import save_checkpoint
from mamcli.model.api import MattingAnything
from mamcli.model.devices import resolve_device
from mamcli.model.m2m import M2M, M2MOutput
from mamcli.model.sam import load_sam
from mamcli.runtime import distributed
from mamcli.runtime.distributed import Rank
from mamcli.runtime.pause import announce_and_wait, pause_count
from mamcli.train.config import TrainConfig
from mamcli.train.curve import plot_curve
from mamcli.train.data import MattingDataset, make_sampler, scan_root, split_holdout
from mamcli.train.log import TrainLog
from mamcli.train.loss import LossTerms, matting_loss
from mamcli.train.schedule import GradClipper, lr_factor, weight_maps
from mamcli.train.validation import validate

LAST, BEST, RESUME, LOG, CURVE = "last.pth", "best.pth", "resume.pth", "log.csv", "curve.png"

OnStep = Callable[[int, int, float], None]
"""on_step(step, total, loss): called on rank 0 after every update with its own loss."""


@dataclass
class TrainSummary:
    """What a finished run left behind (the numbers are rank 0's)."""

    rank: int
    out_dir: Path
    steps: int
    loss: float
    val_sad: float | None
    best_sad: float | None
    baseline_sad: float | None
    precision: str


class FrozenSam:
    """SAM without gradients: embeddings and the argmax-IoU guide mask of each box.

    It is the inference model without M2M (`MattingAnything(sam, None, ...)`): the same
    fused attention and the same precision policy (`precision` "auto" resolved for the
    device) as `mam matte`.
    """

    def __init__(self, path: Path, model: str, device: torch.device, precision: str) -> None:
        self.inference = MattingAnything(load_sam(path, model), None, device, precision)
        self.stage = self.inference.sam

    @property
    def precision(self) -> str:
        return self.inference.precision

    @property
    def img_size(self) -> int:
        return self.stage.img_size

    @property
    def embed_dim(self) -> int:
        return self.stage.sam.mask_decoder.transformer_dim

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the run's precision (nothing for fp32)."""
        dtype = self.inference.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.inference.device.type, dtype=dtype)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(normalised images, embeddings, guide masks, SAM logits) for S x S uint8 crops."""
        sam = self.stage.sam
        x = torch.stack([sam.preprocess(image.float()) for image in images])
        with self.autocast():
            embeddings = self.stage.encode(x)
        logits = torch.cat(
            [
                self.stage.decode(embeddings[i : i + 1], boxes=boxes[i : i + 1]).low_res_logits
                for i in range(len(images))
            ]
        )
        return x, embeddings, (logits > 0).float(), logits


def _samples(config: TrainConfig):
    """Training samples per root, and the validation samples (held out or given)."""
    per_root, held_out = [], []
    for spec in config.data_roots:
        samples = scan_root(spec.path, config.backgrounds)
        if not config.val_roots and config.val_split > 0:
            samples, held = split_holdout(samples, config.val_split, config.seed)
            held_out += held
        per_root.append(samples)
    val = [s for root in config.val_roots for s in scan_root(root, config.backgrounds)]
    return per_root, val or held_out


def _loop(loader: DataLoader, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches; the sampler gets a new epoch each pass."""
    while True:
        loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _load_resume(path: Path) -> dict:
    if not path.is_file():
        raise InputError(path, "--resume given but there is no resume file in the run folder")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(path, f"not a readable resume file ({exc})") from None


@dataclass
class StepResult:
    """One update: its loss terms, the gradient norm before clipping and the lr it used."""

    terms: LossTerms
    grad_norm: float
    lr: float


class Trainer:
    """M2M (DDP-wrapped under torchrun) with its optimiser, lr schedule and clipper.

    `train_step(batch)` is one update; `step` counts the updates done (resume included).
    fp16 runs scale the loss (GradScaler) so small gradients do not underflow.
    """

    def __init__(
        self, config: TrainConfig, sam: FrozenSam, rank: Rank, device: torch.device
    ) -> None:
        self.config, self.sam, self.device = config, sam, device
        m2m = M2M(sam.embed_dim)
        m2m.reset_parameters()
        self.m2m = m2m.to(device).train()
        self.model: nn.Module = self.m2m
        if rank.world > 1:
            if device.type == "cuda":  # SyncBatchNorm runs on GPUs only
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.model = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
            self.m2m = self.model.module
        self.optimizer = torch.optim.Adam(self.m2m.parameters(), lr=config.lr, betas=config.betas)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config.warmup_steps, config.steps)
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=sam.precision == "fp16")
        self.clipper = GradClipper()
        self.generator = torch.Generator().manual_seed(config.seed + 1000 + rank.rank)
        self.step = 0

    def train_step(self, batch: dict[str, torch.Tensor]) -> StepResult:
        device, config = self.device, self.config
        alpha_gt = batch["alpha"].to(device, non_blocking=True)
        x, embeddings, masks, _ = self.sam(batch["image"].to(device), batch["box"].to(device))
        with self.sam.autocast():
            out: M2MOutput = self.model(embeddings, x, masks)
        alphas = {"os1": out.alpha_os1, "os4": out.alpha_os4, "os8": out.alpha_os8}
        alphas = {k: v.float() for k, v in alphas.items()}
        trimap = batch["trimap"].to(device)
        maps = weight_maps(
            self.step, config.warmup_steps, trimap, alphas["os8"], alphas["os4"], self.generator
        )
        terms = matting_loss(alphas, alpha_gt, maps)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = self.clipper(self.m2m.parameters())
        lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return StepResult(terms, grad_norm, lr)

    def state_dict(self) -> dict:
        """Everything `--resume` needs, M2M weights under "state_dict" as in the release."""
        return {
            "state_dict": self.m2m.state_dict(),
            "iter": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "clipper": self.clipper.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.m2m.load_state_dict(state["state_dict"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # empty when the run was not fp16
            self.scaler.load_state_dict(state["scaler"])
        self.clipper.load_state_dict(state["clipper"])
        self.generator.set_state(state["generator"])
        self.step = int(state["iter"])


def train(config: TrainConfig, on_step: OnStep | None = None) -> TrainSummary:
    """Train M2M on top of a frozen SAM as `config` says; see docs/train.md.

    `on_step(step, total, loss)` is called on rank 0 after every update (for a progress
    display); nothing is printed here.
    """
    rank = distributed.current_rank()
    device = distributed.rank_device(rank, resolve_device(config.device))
    distributed.init_group(rank, device)
    try:
        return _train(config, rank, device, on_step)
    finally:
        distributed.close_group()


def _loaders(
    config: TrainConfig, rank: Rank, device: torch.device, image_size: int
) -> tuple[DataLoader, DataLoader | None]:
    """The endless training loader (sharded over ranks) and the validation loader (or None)."""
    crop = config.crop_size or image_size
    per_root, val_samples = _samples(config)
    train_set = MattingDataset(
        [s for root in per_root for s in root], image_size, crop, config.augment
    )
    sampler = make_sampler(
        [len(root) for root in per_root],
        [spec.weight for spec in config.data_roots],
        rank.rank,
        rank.world,
        config.seed,
    )
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=len(sampler) >= config.batch_size,
        persistent_workers=config.num_workers > 0,
        pin_memory=device.type == "cuda",
    )
    if not val_samples:
        return loader, None
    val_set = MattingDataset(val_samples, image_size, crop, augment=False)
    val_loader = DataLoader(
        val_set, batch_size=config.batch_size, num_workers=min(config.num_workers, 1)
    )
    return loader, val_loader


def _train(
    config: TrainConfig, rank: Rank, device: torch.device, on_step: OnStep | None
) -> TrainSummary:
    torch.manual_seed(config.seed + rank.rank)
    sam = FrozenSam(config.sam_checkpoint, config.model, device, config.precision)
    loader, val_loader = _loaders(config, rank, device, sam.img_size)
    trainer = Trainer(config, sam, rank, device)
    out_dir = config.out_dir
    best_sad, baseline_sad = float("inf"), None
    if config.resume:
        state = _load_resume(out_dir / RESUME)
        trainer.load_state_dict(state)
        best_sad = float(state["best_sad"])
        if trainer.step >= config.steps:
            raise MamError(
                f"the run in {out_dir} already reached step {trainer.step} of {config.steps}"
            )
    log = TrainLog(out_dir / LOG, resume_step=trainer.step if config.resume else None)

    def save(loss: float) -> None:
        # resume.pth is the commit point, so it is written last: a run killed before it
        # resumes from the previous one, and the log rows past that step are dropped then.
        log.save()
        state = trainer.state_dict()
        save_checkpoint(out_dir / LAST, state["state_dict"], iter=trainer.step, loss=loss)
        save_checkpoint(
            out_dir / RESUME, state.pop("state_dict"), loss=loss, best_sad=best_sad, **state
        )
        if trainer.step == pause_count():  # the test hook: resume.pth of this step is whole
            announce_and_wait(trainer.step, "steps", threading.Event())

    batches = _loop(loader, epoch=trainer.step)
    loss_value, val = float("nan"), {}
    try:
        while trainer.step < config.steps:
            result = trainer.train_step(next(batches))
            step = trainer.step
            done = step == config.steps
            checkpoint = step % config.checkpoint_every == 0 or done
            if step % config.log_every == 0 or checkpoint:
                loss_value = distributed.mean(result.terms.total, rank)
                parts = {
                    f"loss_{k}": distributed.mean(v, rank) for k, v in result.terms.parts.items()
                }
                log.add(step, loss=loss_value, **parts, lr=result.lr, grad_norm=result.grad_norm)
            if on_step is not None and rank.is_main:
                on_step(step, config.steps, result.terms.total.detach().item())
            if val_loader is not None and (step % config.val_every == 0 or done):
                if rank.is_main:
                    val = validate(trainer.m2m, sam.stage.sam, val_loader, device, sam.precision)
                    baseline_sad = val["baseline_sad"]
                    log.add(step, **val)
                    if val["val_sad"] < best_sad:
                        best_sad = val["val_sad"]
                        save_checkpoint(
                            out_dir / BEST, trainer.m2m.state_dict(), iter=step, loss=loss_value
                        )
                distributed.barrier(rank)
            if checkpoint:
                if rank.is_main:
                    save(loss_value)
                distributed.barrier(rank)
    finally:
        log.close()
    if rank.is_main:
        plot_curve(out_dir / CURVE, log.series("loss"), log.series("val_sad"), baseline_sad)
    return TrainSummary(
        rank=rank.rank,
        out_dir=out_dir,
        steps=trainer.step,
        loss=loss_value,
        val_sad=val.get("val_sad"),
        best_sad=None if best_sad == float("inf") else best_sad,
        baseline_sad=baseline_sad,
        precision=sam.precision,
    )
