"""The M2M training loop: frozen SAM, DDP, checkpoints, resume, validation, logs.

One function, `train(config)`, serves a single CPU or GPU and `torchrun` (one process per
GPU or CPU slot; gloo on the CPU, nccl on CUDA). Rank 0 writes every file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from mamcli.errors import InputError, MamError
from mamcli.eval.metrics import REPORT_SCALE, abs_error_map, region_sum
from mamcli.hub.checkpoint import save_checkpoint
from mamcli.model.api import resolve_device
from mamcli.model.attention import set_attention_kernel
from mamcli.model.m2m import M2M, M2MOutput
from mamcli.model.refine import refine
from mamcli.model.sam import SamStage, load_sam
from mamcli.train.curve import plot_curve
from mamcli.train.data import MattingDataset, RootSpec, make_sampler, scan_root, split_holdout
from mamcli.train.log import TrainLog
from mamcli.train.loss import LossTerms, matting_loss
from mamcli.train.schedule import GradClipper, lr_factor, weight_maps

LAST, BEST, RESUME, LOG, CURVE = "last.pth", "best.pth", "resume.pth", "log.csv", "curve.png"


@dataclass
class TrainConfig:
    """Everything a run needs; the defaults are the paper's recipe (spec section 7)."""

    data_roots: list[RootSpec]
    sam_checkpoint: Path
    out_dir: Path
    model: str = "vit_b"
    backgrounds: Path | None = None
    val_roots: list[Path] = field(default_factory=list)
    val_split: float = 0.1
    steps: int = 20_000
    warmup_steps: int = 4_000
    batch_size: int = 10
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    crop_size: int | None = None
    augment: bool = True
    device: str = "auto"
    bf16: bool = False
    num_workers: int = 4
    checkpoint_every: int = 1_000
    val_every: int = 1_000
    log_every: int = 10
    seed: int = 0
    resume: bool = False
    progress: bool = True


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


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> float:
        value = value.detach().clone()
        if self.world_size > 1:
            dist.all_reduce(value)
            value /= self.world_size
        return float(value)


def setup_distributed(device: str) -> Distributed:
    """Join the torchrun job described by the environment, if any."""
    resolved = resolve_device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(0, 1, resolved)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(resolved)
    dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), world_size, resolved)


class FrozenSam:
    """SAM without gradients: embeddings and the argmax-IoU guide mask of each box."""

    def __init__(self, path: Path, model: str, device: torch.device, bf16: bool) -> None:
        sam = load_sam(path, model).to(device)
        set_attention_kernel(sam.image_encoder, "sdpa")  # same embeddings, ~1.7x faster
        self.stage = SamStage(sam)
        self.bf16 = bf16

    @property
    def img_size(self) -> int:
        return self.stage.img_size

    @property
    def embed_dim(self) -> int:
        return self.stage.sam.mask_decoder.transformer_dim

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(normalised images, embeddings, guide masks, SAM logits) for S x S uint8 crops."""
        sam = self.stage.sam
        x = torch.stack([sam.preprocess(image.float()) for image in images])
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
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


def _uint8(alpha: torch.Tensor) -> np.ndarray:
    return (alpha.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def validate(
    model: M2M, sam: FrozenSam, loader: DataLoader, device: torch.device
) -> dict[str, float]:
    """Mean SAD and MSE (paper units) of the refined alpha, and SAD of the SAM mask alone.

    The prediction is what `mam matte` returns: the three scales combined by the
    inference-time refinement with SAM's mask as the post mask.
    """
    was_training = model.training
    model.eval()
    totals = {"val_sad": 0.0, "val_mse": 0.0, "baseline_sad": 0.0}
    count = 0
    for batch in loader:
        x, embeddings, masks, logits = sam(batch["image"].to(device), batch["box"].to(device))
        out: M2MOutput = model(embeddings, x, masks)
        size = out.alpha_os1.shape[-2:]
        post = torch.nn.functional.interpolate(logits, size, mode="bilinear") > 0
        alpha = refine(
            out.alpha_os1[:, 0].float().cpu(),
            out.alpha_os4[:, 0].float().cpu(),
            out.alpha_os8[:, 0].float().cpu(),
            post[:, 0].cpu(),
        )
        for pred, baseline, gt in zip(
            _uint8(alpha), _uint8(out.mask[:, 0]), _uint8(batch["alpha"][:, 0]), strict=True
        ):
            errors = abs_error_map(pred, gt)
            totals["val_sad"] += region_sum(errors, None) * REPORT_SCALE["sad"]
            totals["val_mse"] += region_sum(errors**2, None) / gt.size * REPORT_SCALE["mse"]
            totals["baseline_sad"] += region_sum(abs_error_map(baseline, gt), None) * 1e-3
            count += 1
    model.train(was_training)
    return {name: value / count for name, value in totals.items()}


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
    """

    def __init__(self, config: TrainConfig, sam: FrozenSam, ctx: Distributed) -> None:
        self.config, self.sam, self.device = config, sam, ctx.device
        m2m = M2M(sam.embed_dim)
        m2m.reset_parameters()
        self.m2m = m2m.to(ctx.device).train()
        self.model: nn.Module = self.m2m
        if ctx.world_size > 1:
            if ctx.device.type == "cuda":  # SyncBatchNorm runs on GPUs only
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.model = DistributedDataParallel(
                self.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
            )
            self.m2m = self.model.module
        self.optimizer = torch.optim.Adam(self.m2m.parameters(), lr=config.lr, betas=config.betas)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config.warmup_steps, config.steps)
        )
        self.clipper = GradClipper()
        self.generator = torch.Generator().manual_seed(config.seed + 1000 + ctx.rank)
        self.step = 0

    def train_step(self, batch: dict[str, torch.Tensor]) -> StepResult:
        device, config = self.device, self.config
        alpha_gt = batch["alpha"].to(device, non_blocking=True)
        x, embeddings, masks, _ = self.sam(batch["image"].to(device), batch["box"].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out: M2MOutput = self.model(embeddings, x, masks)
        alphas = {"os1": out.alpha_os1, "os4": out.alpha_os4, "os8": out.alpha_os8}
        alphas = {k: v.float() for k, v in alphas.items()}
        trimap = batch["trimap"].to(device)
        maps = weight_maps(
            self.step, config.warmup_steps, trimap, alphas["os8"], alphas["os4"], self.generator
        )
        terms = matting_loss(alphas, alpha_gt, maps)
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        grad_norm = self.clipper(self.m2m.parameters())
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
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
            "clipper": self.clipper.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.m2m.load_state_dict(state["state_dict"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.clipper.load_state_dict(state["clipper"])
        self.generator.set_state(state["generator"])
        self.step = int(state["iter"])


def train(config: TrainConfig) -> TrainSummary:
    """Train M2M on top of a frozen SAM as `config` says; see docs/train.md."""
    ctx = setup_distributed(config.device)
    try:
        return _train(config, ctx)
    finally:
        if ctx.world_size > 1:
            dist.destroy_process_group()


def _loaders(config: TrainConfig, ctx: Distributed, image_size: int) -> tuple[DataLoader, ...]:
    """The endless training loader (sharded over ranks) and the validation loader (or None)."""
    crop = config.crop_size or image_size
    per_root, val_samples = _samples(config)
    train_set = MattingDataset(
        [s for root in per_root for s in root], image_size, crop, config.augment
    )
    sampler = make_sampler(
        [len(root) for root in per_root],
        [spec.weight for spec in config.data_roots],
        ctx.rank,
        ctx.world_size,
        config.seed,
    )
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=len(sampler) >= config.batch_size,
        persistent_workers=config.num_workers > 0,
        pin_memory=ctx.device.type == "cuda",
    )
    if not val_samples:
        return loader, None
    val_set = MattingDataset(val_samples, image_size, crop, augment=False)
    val_loader = DataLoader(
        val_set, batch_size=config.batch_size, num_workers=min(config.num_workers, 1)
    )
    return loader, val_loader


def _train(config: TrainConfig, ctx: Distributed) -> TrainSummary:
    if config.steps < 1 or config.warmup_steps < 0 or config.batch_size < 1:
        raise MamError("--steps and --batch-size must be >= 1 and --warmup-steps >= 0")
    torch.manual_seed(config.seed + ctx.rank)
    device = ctx.device
    sam = FrozenSam(config.sam_checkpoint, config.model, device, config.bf16)
    loader, val_loader = _loaders(config, ctx, sam.img_size)
    trainer = Trainer(config, sam, ctx)
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

    bar = tqdm(
        total=config.steps,
        initial=trainer.step,
        disable=not (ctx.main and config.progress),
        unit="step",
    )
    batches = _loop(loader, epoch=trainer.step)
    loss_value, val = float("nan"), {}
    try:
        while trainer.step < config.steps:
            result = trainer.train_step(next(batches))
            step = trainer.step
            done = step == config.steps
            checkpoint = step % config.checkpoint_every == 0 or done
            if step % config.log_every == 0 or checkpoint:
                loss_value = ctx.mean(result.terms.total)
                parts = {f"loss_{k}": ctx.mean(v) for k, v in result.terms.parts.items()}
                log.add(step, loss=loss_value, **parts, lr=result.lr, grad_norm=result.grad_norm)
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{result.lr:.2e}")
            bar.update(1)
            if val_loader is not None and (step % config.val_every == 0 or done):
                if ctx.main:
                    val = validate(trainer.m2m, sam, val_loader, device)
                    baseline_sad = val["baseline_sad"]
                    log.add(step, **val)
                    if val["val_sad"] < best_sad:
                        best_sad = val["val_sad"]
                        save_checkpoint(
                            out_dir / BEST, trainer.m2m.state_dict(), iter=step, loss=loss_value
                        )
                ctx.barrier()
            if checkpoint:
                if ctx.main:
                    save(loss_value)
                ctx.barrier()
    finally:
        bar.close()
        log.close()
    if ctx.main:
        plot_curve(out_dir / CURVE, log.series("loss"), log.series("val_sad"), baseline_sad)
    return TrainSummary(
        rank=ctx.rank,
        out_dir=out_dir,
        steps=trainer.step,
        loss=loss_value,
        val_sad=val.get("val_sad"),
        best_sad=None if best_sad == float("inf") else best_sad,
        baseline_sad=baseline_sad,
    )
