"""Tiny random-weight diffusion pipelines, for smoke tests and CI (``videoloom dev tiny-model``).

They have the real pipelines' classes and layouts (``model_index.json`` plus one folder per
component), so the diffusion engine loads them exactly as it loads real weights, but every
network is a few kilobytes of random numbers: **they produce noise, not pictures**. Nothing is
downloaded: the tokenizer is ``transformers.ByT5Tokenizer`` (bytes, no vocabulary file).

The shapes follow what runs fast on a CPU at video sizes:

* LTX-Video: an 8-channel ``AutoencoderKLLTXVideo`` with the real compression (patch 4 and
  three scaling stages: 32× spatial, 8× temporal; a 4×-compressing VAE would need ~1 M
  attention tokens at 720p), a one-layer ``LTXVideoTransformer3DModel``, a 2-layer T5 encoder.
* Wan 2.1 VACE: a 3-channel ``AutoencoderKLWan`` (8× spatial, 4× temporal), a 3-layer
  ``WanVACETransformer3DModel`` with VACE blocks at layers 0 and 2 (``rope_max_seq_len`` 1024
  so 720p works), a 2-layer UMT5 encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

__all__ = ["FAMILIES", "build_tiny_pipeline", "write_tiny_model"]

Family = Literal["ltx", "wan-vace"]
FAMILIES: tuple[str, ...] = ("ltx", "wan-vace")


# The assemblers take the component configurations, so the GPU benchmark builds the full-size
# architectures (bench/diffusion_gpu.py) through the same code as these tiny ones.

TINY_TEXT_ENCODER: dict[str, Any] = {"d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2, "num_heads": 4}
TINY_LTX_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 8,
    "block_out_channels": (8, 8, 8, 8),
    "decoder_block_out_channels": (8, 8, 8, 8),
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1, 1),
    "spatio_temporal_scaling": (True, True, True, False),
    "decoder_spatio_temporal_scaling": (True, True, True, False),
    "decoder_inject_noise": (False, False, False, False, False),
    "upsample_residual": (False, False, False, False),
    "upsample_factor": (1, 1, 1, 1),
    "timestep_conditioning": False,
    "patch_size": 4,
    "patch_size_t": 1,
    "encoder_causal": True,
    "decoder_causal": False,
}
TINY_LTX_TRANSFORMER: dict[str, Any] = {
    "in_channels": 8,
    "out_channels": 8,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 4,
    "attention_head_dim": 8,
    "cross_attention_dim": 32,
    "num_layers": 1,
    "caption_channels": 32,
}
TINY_WAN_VAE: dict[str, Any] = {
    "base_dim": 3,
    "z_dim": 16,
    "dim_mult": [1, 1, 1, 1],
    "num_res_blocks": 1,
    "temperal_downsample": [False, True, True],
}
TINY_WAN_VACE_TRANSFORMER: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 32,
    "freq_dim": 256,
    "ffn_dim": 32,
    "num_layers": 3,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "vace_layers": [0, 2],
    "vace_in_channels": 96,
}


def text_encoder(kind: Literal["t5", "umt5"], shape: dict[str, Any]) -> tuple[Any, Any]:
    """A byte tokenizer (no vocabulary file) and a random T5/UMT5 encoder of ``shape``."""
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    tokenizer = ByT5Tokenizer()
    shape = {"vocab_size": len(tokenizer), **shape}
    if kind == "t5":
        return tokenizer, T5EncoderModel(T5Config(**shape))
    return tokenizer, UMT5EncoderModel(UMT5Config(**shape))


def ltx_pipeline(
    *, text: dict[str, Any], vae: dict[str, Any], transformer: dict[str, Any], scheduler: dict[str, Any]
) -> Any:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer, encoder = text_encoder("t5", text)
    return LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**scheduler),
        vae=AutoencoderKLLTXVideo(**vae),
        text_encoder=encoder,
        tokenizer=tokenizer,
        transformer=LTXVideoTransformer3DModel(**transformer),
    )


def wan_vace_pipeline(*, text: dict[str, Any], vae: dict[str, Any], transformer: dict[str, Any]) -> Any:
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )

    tokenizer, encoder = text_encoder("umt5", text)
    return WanVACEPipeline(
        tokenizer=tokenizer,
        text_encoder=encoder,
        vae=AutoencoderKLWan(**vae),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        transformer=WanVACETransformer3DModel(**transformer),
    )


def _ltx() -> Any:
    pipe = ltx_pipeline(
        text=TINY_TEXT_ENCODER, vae=TINY_LTX_VAE, transformer=TINY_LTX_TRANSFORMER, scheduler={}
    )
    pipe.vae.use_framewise_encoding = False
    pipe.vae.use_framewise_decoding = False
    return pipe


def _wan_vace() -> Any:
    return wan_vace_pipeline(text=TINY_TEXT_ENCODER, vae=TINY_WAN_VAE, transformer=TINY_WAN_VACE_TRANSFORMER)


def build_tiny_pipeline(family: str, *, seed: int = 0) -> Any:
    """A tiny random-weight pipeline of ``family`` ("ltx" or "wan-vace"); same seed, same weights."""
    import torch

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
    torch.manual_seed(seed)
    pipe = _ltx() if family == "ltx" else _wan_vace()
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    return pipe


def write_tiny_model(family: str, directory: Path, *, seed: int = 0) -> Path:
    """Write a tiny ``family`` pipeline to ``directory`` (``save_pretrained``); returns it."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    build_tiny_pipeline(family, seed=seed).save_pretrained(str(directory))
    return directory
