"""The frozen SAM stage: build SAM from a checkpoint, encode images, decode prompts.

The ViT architecture (image size, patch size, width, depth, heads, windows) is read from
the checkpoint's tensor shapes, so official checkpoints and small random SAMs made for
tests load the same way. MobileSAM (`vit_t`) comes from the optional `mobile_sam` package.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mamcli.errors import InputError, MamError
from mamcli.hub.checkpoint import check_state_dict, load_state_dict
from mamcli.model.config import BACKBONES
from mamcli.model.sam_modules import modeling

ImageEncoderViT = modeling.ImageEncoderViT
MaskDecoder = modeling.MaskDecoder
PromptEncoder = modeling.PromptEncoder
Sam = modeling.Sam
TwoWayTransformer = modeling.TwoWayTransformer


@dataclass(frozen=True)
class SamConfig:
    """Shape of a ViT SAM. The defaults are SAM ViT-B at 1024 px."""

    img_size: int = 1024
    patch_size: int = 16
    encoder_dim: int = 768
    encoder_depth: int = 12
    encoder_heads: int = 12
    window_size: int = 14
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    prompt_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    multimask_outputs: int = 3


OFFICIAL_CONFIGS = {
    "vit_b": SamConfig(),
    "vit_l": SamConfig(
        encoder_dim=1024, encoder_depth=24, encoder_heads=16, global_attn_indexes=(5, 11, 17, 23)
    ),
    "vit_h": SamConfig(
        encoder_dim=1280, encoder_depth=32, encoder_heads=16, global_attn_indexes=(7, 15, 23, 31)
    ),
}

# A 256-px SAM small enough to build with random weights in a test, a demo or a benchmark
# in well under a second. Its outputs mean nothing: it exercises the code, it is no model.
TINY_CONFIG = SamConfig(
    img_size=256,
    encoder_dim=32,
    encoder_depth=2,
    encoder_heads=2,
    window_size=4,
    global_attn_indexes=(1,),
    decoder_depth=1,
    decoder_mlp_dim=64,
    iou_head_hidden_dim=32,
)


# SAM normalises 0-255 RGB with ImageNet's mean and std (segment-anything's defaults).
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


def build_sam(config: SamConfig, *, load_encoder_later: bool = False) -> Sam:
    """Build a randomly initialised ViT SAM of the given shape.

    With `load_encoder_later` the image encoder (90 M parameters for ViT-B, 0.4 s to
    initialise) is built on the meta device, without weights, for `load_state_dict(...,
    assign=True)` to fill. (Only the encoder: building the prompt encoder on the meta device
    would import torch._dynamo, 1.1 s, for one meta kernel.)
    """
    embedding_size = config.img_size // config.patch_size
    with torch.device("meta") if load_encoder_later else contextlib.nullcontext():
        image_encoder = ImageEncoderViT(
            img_size=config.img_size,
            patch_size=config.patch_size,
            embed_dim=config.encoder_dim,
            depth=config.encoder_depth,
            num_heads=config.encoder_heads,
            mlp_ratio=4,
            out_chans=config.prompt_dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=config.window_size,
            global_attn_indexes=config.global_attn_indexes,
        )
    return Sam(
        image_encoder=image_encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=config.prompt_dim,
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(config.img_size, config.img_size),
            mask_in_chans=config.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=config.multimask_outputs,
            transformer=TwoWayTransformer(
                depth=config.decoder_depth,
                embedding_dim=config.prompt_dim,
                mlp_dim=config.decoder_mlp_dim,
                num_heads=config.decoder_heads,
            ),
            transformer_dim=config.prompt_dim,
            iou_head_depth=config.iou_head_depth,
            iou_head_hidden_dim=config.iou_head_hidden_dim,
        ),
        pixel_mean=list(PIXEL_MEAN),
        pixel_std=list(PIXEL_STD),
    )


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in state if (m := regex.match(key))})


def sam_config_from_state_dict(state: dict[str, torch.Tensor]) -> SamConfig:
    """Read a ViT SAM's shape from its state dict (raises KeyError if it is not one)."""
    patch = state["image_encoder.patch_embed.proj.weight"]
    encoder_dim, patch_size = patch.shape[0], patch.shape[-1]
    grid = state["image_encoder.pos_embed"].shape[1]
    depth = _count(state, r"image_encoder\.blocks\.(\d+)\.")
    head_dim = state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1]
    rel_sizes = [state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] for i in range(depth)]
    global_indexes = tuple(i for i, size in enumerate(rel_sizes) if size == 2 * grid - 1)
    windowed = [size for size in rel_sizes if size != 2 * grid - 1]
    window = (windowed[0] + 1) // 2 if windowed else 0
    mask_tokens = state["mask_decoder.mask_tokens.weight"].shape[0]
    return SamConfig(
        img_size=grid * patch_size,
        patch_size=patch_size,
        encoder_dim=encoder_dim,
        encoder_depth=depth,
        encoder_heads=encoder_dim // head_dim,
        window_size=window,
        global_attn_indexes=global_indexes,
        prompt_dim=state["prompt_encoder.no_mask_embed.weight"].shape[1],
        mask_in_chans=state["prompt_encoder.mask_downscaling.3.weight"].shape[0],
        decoder_depth=_count(state, r"mask_decoder\.transformer\.layers\.(\d+)\."),
        decoder_mlp_dim=state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0],
        iou_head_depth=_count(state, r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\."),
        iou_head_hidden_dim=state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0],
        multimask_outputs=mask_tokens - 1,
    )


def _build_mobile_sam() -> Sam:
    try:
        from mobile_sam import sam_model_registry as mobile_registry
    except ImportError as exc:
        raise MamError(
            "the vit_t (MobileSAM) backbone needs the optional extra: pip install 'mam[mobile]'"
        ) from exc
    return mobile_registry["vit_t"]()


def load_sam(path: str | Path, model: str = "vit_b") -> Sam:
    """Load a SAM checkpoint file (weights only) into a model of the right shape, in eval mode."""
    if model not in BACKBONES:
        raise MamError(f"unknown SAM backbone {model!r}; choose one of {', '.join(BACKBONES)}")
    state = load_state_dict(path, what="SAM checkpoint", mmap=True)
    if model == "vit_t":
        sam = _build_mobile_sam()
    else:
        try:
            sam = build_sam(sam_config_from_state_dict(state), load_encoder_later=True)
        except (KeyError, IndexError) as exc:
            raise InputError(path, f"not a ViT SAM checkpoint (missing tensor {exc})") from None
    check_state_dict(path, state, {k: v.shape for k, v in sam.state_dict().items()})
    # assign: the module takes the (memory-mapped) checkpoint tensors instead of copies
    sam.load_state_dict(state, strict=True, assign=model != "vit_t")
    return sam.eval().requires_grad_(False)


@dataclass(frozen=True)
class LongestSideResize:
    """segment-anything's `ResizeLongestSide` (the resize SAM was trained with), without its
    torchvision import: the long side becomes `target`, rounded as segment-anything does,
    with PIL's bilinear filter (what torchvision's `resize` calls on a PIL image); boxes and
    points are scaled per axis. tests/model/test_sam_stage.py checks them against the original."""

    target: int

    def shape(self, height: int, width: int) -> tuple[int, int]:
        scale = self.target / max(height, width)
        return int(height * scale + 0.5), int(width * scale + 0.5)

    def image(self, rgb: np.ndarray) -> np.ndarray:
        height, width = self.shape(rgb.shape[0], rgb.shape[1])
        return np.array(Image.fromarray(rgb).resize((width, height), Image.BILINEAR))

    def coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """x, y in the last axis, from the original image to the resized one."""
        new_h, new_w = self.shape(*original_size)
        scaled = np.array(coords, dtype=float)
        scaled[..., 0] *= new_w / original_size[1]
        scaled[..., 1] *= new_h / original_size[0]
        return scaled

    def boxes(self, boxes: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        return self.coords(np.asarray(boxes).reshape(-1, 2, 2), original_size).reshape(-1, 4)


@dataclass
class PreparedImage:
    """An image resized for SAM (uint8 h' x w' x 3) plus the sizes needed to undo it."""

    resized: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]


@dataclass
class Decoded:
    """The selected SAM mask of each prompt: low-res logits (N x 1 x m x m) and IoU scores."""

    low_res_logits: torch.Tensor
    iou: torch.Tensor
    all_iou: torch.Tensor = field(repr=False)


class SamStage:
    """Wraps a SAM model: resizing, normalisation, encoding and batched prompt decoding."""

    def __init__(
        self,
        sam: Sam,
        make_encoder: Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None = None,
        encoder_dtype: torch.dtype = torch.float32,
    ):
        """`make_encoder` returns what replaces sam.image_encoder for encoding (a cast,
        compiled or quantized copy of it, say); it is called when the first image is encoded,
        so a run whose embeddings all come from a cache never reads the encoder's weights.
        `encoder_dtype` is the dtype of its weights, which its input is cast to."""
        self.sam = sam
        self._make_encoder = make_encoder or (lambda: sam.image_encoder)
        self._encoder: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.encoder_dtype = encoder_dtype
        self.img_size: int = sam.image_encoder.img_size
        self.transform = LongestSideResize(self.img_size)

    @property
    def encoder(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The image encoder, made on first use."""
        if self._encoder is None:
            self._encoder = self._make_encoder()
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self._encoder = encoder

    @property
    def device(self) -> torch.device:
        return self.sam.device

    def tool_sam(self) -> Sam:
        """A SAM for segment-anything's own tools (its automatic mask generator) whose image
        encoder is this stage's, at its precision: the same prompt encoder and decoder."""
        return Sam(
            image_encoder=_StageEncoder(self),
            prompt_encoder=self.sam.prompt_encoder,
            mask_decoder=self.sam.mask_decoder,
            pixel_mean=list(PIXEL_MEAN),
            pixel_std=list(PIXEL_STD),
        ).to(self.device)

    @property
    def embedding_shape(self) -> tuple[int, int, int]:
        """C x s x s of one image's embedding."""
        height, width = self.sam.prompt_encoder.image_embedding_size
        return (self.sam.prompt_encoder.embed_dim, height, width)

    def prepare(self, rgb: np.ndarray) -> PreparedImage:
        """Resize the longest side to the model's size, as segment-anything does."""
        resized = self.transform.image(rgb)
        return PreparedImage(
            resized=torch.from_numpy(np.ascontiguousarray(resized)),
            original_size=(rgb.shape[0], rgb.shape[1]),
            input_size=(resized.shape[0], resized.shape[1]),
        )

    def model_input(self, images: list[PreparedImage]) -> torch.Tensor:
        """Normalise and zero-pad to img_size x img_size: B x 3 x S x S on the device, fp32."""
        batch = [
            self.sam.preprocess(
                image.resized.to(self.device, non_blocking=True).permute(2, 0, 1).float()
            )
            for image in images
        ]
        return torch.stack(batch)

    def encode(self, model_input: torch.Tensor) -> torch.Tensor:
        """Image embeddings B x C x s x s (fp32)."""
        return self.encoder(model_input.to(self.encoder_dtype)).float()

    def transform_boxes(self, boxes: np.ndarray, original_size: tuple[int, int]) -> torch.Tensor:
        return torch.as_tensor(
            self.transform.boxes(boxes, original_size), dtype=torch.float, device=self.device
        )

    def transform_points(self, points: np.ndarray, original_size: tuple[int, int]) -> torch.Tensor:
        return torch.as_tensor(
            self.transform.coords(points, original_size),
            dtype=torch.float,
            device=self.device,
        )

    def decode(
        self,
        embedding: torch.Tensor,
        boxes: torch.Tensor | None = None,
        points: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> Decoded:
        """Decode N prompts of one image at once (multimask) and keep the best-IoU mask.

        embedding: 1 x C x s x s; boxes: N x 4 and/or points N x K x 2 with labels N x K,
        all in the resized input frame.
        """
        sparse, dense = self.sam.prompt_encoder(
            points=None if points is None else (points, labels), boxes=boxes, masks=None
        )
        logits, iou = self.sam.mask_decoder(
            image_embeddings=embedding,
            image_pe=self.sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )
        best = iou.argmax(dim=1)
        rows = torch.arange(len(best), device=best.device)
        return Decoded(
            low_res_logits=logits[rows, best].unsqueeze(1).float(),
            iou=iou[rows, best].float(),
            all_iou=iou,
        )

    def upscale_masks(self, low_res_logits: torch.Tensor, image: PreparedImage) -> torch.Tensor:
        """Logits at the original size (N x 1 x H x W): pad size, crop, resize (bilinear)."""
        return self.sam.postprocess_masks(low_res_logits, image.input_size, image.original_size)


class _StageEncoder(torch.nn.Module):
    """`sam.image_encoder`'s interface over `SamStage.encode` (cast input, fp32 output)."""

    def __init__(self, stage: SamStage) -> None:
        super().__init__()
        self.stage = stage
        self.img_size = stage.img_size

    def forward(self, model_input: torch.Tensor) -> torch.Tensor:
        return self.stage.encode(model_input)
