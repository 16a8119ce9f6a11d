"""Captions from a vision-language model through transformers (SmolVLM2 by default), with 4-bit and LoRA options."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from chronicon.errors import ModelUnavailableError

log = logging.getLogger(__name__)

DEFAULT_VLM = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"
LARGE_VLM = "HuggingFaceTB/SmolVLM2-2.2B-Instruct"
DEFAULT_PROMPT = "Describe this image in one sentence."


@dataclass
class CaptionerInfo:
    """What `chronicon caption` reports: which model ran where, and how long things took."""

    model: str
    device: str
    quantized: bool
    lora: str | None
    load_seconds: float
    notes: list[str] = field(default_factory=list)


def _local(model: str) -> Path | None:
    path = Path(model).expanduser()
    return path if path.exists() else None


def weights_problem(model: str) -> str | None:
    """Why the model's weights are not on this machine (None when they are, or a download will be tried)."""
    local = _local(model)
    if local is not None:
        return None if (local / "config.json").is_file() else f"{local} is not a transformers model folder"
    if model.startswith(("/", ".", "~")) or os.sep in model.strip("/").replace("/", "", 1):
        return f"the captioning model folder {model} does not exist"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
    except ImportError:
        return "captions need transformers (pip install 'chronicon[ml]')"
    except Exception as exc:  # not a valid hub name either
        return f"{model!r} is neither a model folder nor a model name: {exc}"
    if isinstance(cached, str):
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return f"the captioning model {model} is not on this machine and HF_HUB_OFFLINE is set"
    from chronicon.embed.hub import hub_unreachable

    unreachable = hub_unreachable()
    return f"the captioning model {model} is not on this machine and {unreachable}" if unreachable else None


def _model_bytes(model: str) -> int | None:
    """Size of the weights on disk (local folders or the hub cache), to check memory before loading."""
    local = _local(model)
    folder = local
    if folder is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(model, "config.json")
            folder = Path(found).parent if isinstance(found, str) else None
        except ImportError:
            folder = None
    if folder is None:
        return None
    files = list(folder.glob("*.safetensors")) + list(folder.glob("*.bin"))
    return sum(f.stat().st_size for f in files) or None


def available_memory(device: str) -> int | None:
    """Free bytes on the device (CUDA), or available RAM (CPU); None when unknown."""
    if device.startswith("cuda"):
        try:
            import torch

            free, _ = torch.cuda.mem_get_info(torch.device(device))
            return int(free)
        except Exception:
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Captioner:
    """A VLM that captions batches of images with one prompt (greedy decoding, so captions are repeatable)."""

    def __init__(
        self,
        model: str = DEFAULT_VLM,
        *,
        device: str = "auto",
        quantization: str = "auto",
        lora: str | None = None,
        max_new_tokens: int = 48,
        prompt: str = DEFAULT_PROMPT,
        precision: str = "auto",
    ) -> None:
        from chronicon.runtime.device import choose_device, warn_once

        started = time.perf_counter()
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise ModelUnavailableError("captions need torch and transformers (pip install 'chronicon[ml]')") from exc
        problem = weights_problem(model)
        if problem:
            raise ModelUnavailableError(problem)
        self.device = choose_device(device)
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        notes: list[str] = []
        kwargs: dict[str, Any] = {}
        quantized = False
        if quantization in ("auto", "4bit"):
            if self.device.startswith("cuda"):
                try:
                    import bitsandbytes  # noqa: F401

                    bnb: Any = transformers.BitsAndBytesConfig
                    kwargs["quantization_config"] = bnb(
                        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float16
                    )
                    kwargs["device_map"] = self.device
                    quantized = True
                except ImportError:
                    if quantization == "4bit":
                        warn_once("vlm:4bit", "4-bit quantization needs bitsandbytes; loading without it")
                    notes.append("bitsandbytes is not installed: not quantized")
            elif quantization == "4bit":
                warn_once("vlm:4bit-cpu", f"4-bit NF4 quantization needs CUDA; loading unquantized on {self.device}")
                notes.append("4-bit needs CUDA: not quantized")
        size = _model_bytes(model)
        free = available_memory(self.device)
        needed = None if size is None else (size // 3 if quantized else size) * 1.3
        if needed is not None and free is not None and needed > free:
            raise ModelUnavailableError(
                f"the captioning model {model} needs about {needed / 2**30:.1f} GiB and {self.device} has "
                f"{free / 2**30:.1f} GiB free: choose a smaller model (captioner.model) or enable 4-bit on CUDA"
            )
        dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
        if not quantized and not self.device.startswith("cpu"):  # a GPU: fp16 unless bf16 or fp32 is asked for
            kwargs["dtype"] = dtypes.get(precision, torch.float16)  # (transformers 5: `dtype`, not `torch_dtype`)
        dtype = kwargs.get("dtype")
        used = "fp16" if dtype is torch.float16 else "bf16" if dtype is torch.bfloat16 else "fp32"
        used = "4bit" if quantized else used
        try:
            auto_processor: Any = transformers.AutoProcessor
            auto_model: Any = transformers.AutoModelForImageTextToText
            self.processor: Any = auto_processor.from_pretrained(model)
            self.model: Any = auto_model.from_pretrained(model, **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ModelUnavailableError(f"cannot load the captioning model {model}: {reason}") from exc
        if lora:
            try:
                from peft import PeftModel
            except ImportError as exc:
                raise ModelUnavailableError("a LoRA adapter needs peft (pip install peft)") from exc
            peft_model: Any = PeftModel
            self.model = peft_model.from_pretrained(self.model, lora)
        if not quantized:
            self.model.to(self.device)
        self.model.eval()
        self._torch = torch
        self._lock = threading.Lock()
        self.info = CaptionerInfo(model, self.device, quantized, lora, time.perf_counter() - started, notes)
        from chronicon.runtime.models import settle

        settle("captioner", device=self.device, backend="transformers", precision=used, note="; ".join(notes))

    def caption(self, images: Sequence[Image.Image], prompt: str | None = None, batch_size: int = 4) -> list[str]:
        """One caption per image, in order."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt or self.prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        out: list[str] = []
        for start in range(0, len(images), max(1, batch_size)):
            chunk = [im.convert("RGB") for im in images[start : start + batch_size]]
            inputs = self.processor(
                text=[text] * len(chunk), images=[[im] for im in chunk], return_tensors="pt", padding=True
            ).to(self.device)
            with self._lock, self._torch.inference_mode():
                generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            new = generated[:, inputs["input_ids"].shape[1] :]
            out.extend(" ".join(t.split()) for t in self.processor.batch_decode(new, skip_special_tokens=True))
        return out
