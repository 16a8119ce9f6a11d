"""Asking a vision-language model for a schema's fields: `json` (ask, repair, retry) or `constrained` (categorical
values scored by the model's likelihood, free-text fields generated)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from .prompting import field_prompt, json_prompt, retry_prompt
from .repair import AnswerError, parse_answer
from .schema import Field, Schema
from .terms import check, coerce

MODES = ("constrained", "json")
_BOOLEAN_OPTIONS = ("yes", "no")


@dataclass
class Extraction:
    """The fields of one asset, what did not fit, and the model's last raw answer (json mode)."""

    values: dict[str, Any]
    flags: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


class Extractor:
    """Runs a schema on pictures with a loaded captioner (its transformers processor and model)."""

    def __init__(
        self,
        captioner: Any,
        schema: Schema,
        lookup: Mapping[str, str],
        *,
        mode: str = "constrained",
        retries: int = 2,
        max_new_tokens: int = 256,
    ) -> None:
        import torch

        if mode not in MODES:
            raise ValueError(f"extract.mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.processor: Any = captioner.processor
        self.model: Any = captioner.model
        self.device = str(captioner.device)
        self.schema = schema
        self.lookup = lookup
        self.mode = mode
        self.retries = retries
        self.max_new_tokens = max_new_tokens
        self._torch: Any = torch
        self._lock = threading.Lock()

    # -- model calls --------------------------------------------------------------------------------------
    def _encode(self, images: Sequence[Image.Image], prompt: str) -> Any:
        content: list[dict[str, str]] = [{"type": "image"} for _ in images]
        content.append({"type": "text", "text": prompt})
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        rgb = [im.convert("RGB") for im in images]
        return self.processor(text=[text], images=[rgb], return_tensors="pt").to(self.device)

    def generate(self, images: Sequence[Image.Image], prompt: str) -> str:
        """The model's greedy answer to the prompt about the pictures."""
        inputs = self._encode(images, prompt)
        with self._lock, self._torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        return str(self.processor.batch_decode(new, skip_special_tokens=True)[0]).strip()

    def _end_token(self) -> int | None:
        tokenizer = self.processor.tokenizer
        end = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
        if isinstance(end, int) and end != tokenizer.unk_token_id:
            return end
        return tokenizer.eos_token_id if isinstance(tokenizer.eos_token_id, int) else None

    def score(self, images: Sequence[Image.Image], prompt: str, options: Sequence[str]) -> list[float]:
        """Mean log-likelihood per token of each option (then the end of the answer) as the reply: one batched
        forward pass over all options."""
        torch = self._torch
        inputs = self._encode(images, prompt)
        prompt_ids = inputs["input_ids"][0]
        tokenizer = self.processor.tokenizer
        end = self._end_token()
        continuations = []
        for option in options:
            ids = list(tokenizer(" " + option, add_special_tokens=False)["input_ids"])
            continuations.append(ids + ([end] if end is not None else []))
        width = max(len(c) for c in continuations)
        n, start = len(options), int(prompt_ids.shape[0])
        pad = tokenizer.pad_token_id if isinstance(tokenizer.pad_token_id, int) else 0
        input_ids = torch.full((n, start + width), pad, dtype=prompt_ids.dtype, device=prompt_ids.device)
        mask = torch.zeros((n, start + width), dtype=torch.long, device=prompt_ids.device)
        for i, cont in enumerate(continuations):
            input_ids[i, :start] = prompt_ids
            input_ids[i, start : start + len(cont)] = torch.tensor(cont, dtype=prompt_ids.dtype)
            mask[i, : start + len(cont)] = 1
        extra = {
            k: v.repeat(n, *([1] * (v.dim() - 1)))
            for k, v in inputs.items()
            if k not in ("input_ids", "attention_mask") and hasattr(v, "repeat")
        }
        with self._lock, torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=mask, **extra).logits
        logprobs = torch.log_softmax(logits[:, start - 1 : start - 1 + width].float(), dim=-1)
        scores = []
        for i, cont in enumerate(continuations):
            steps = torch.arange(len(cont), device=logprobs.device)
            picked = logprobs[i, steps, torch.tensor(cont, device=logprobs.device)]
            scores.append(float(picked.mean()))
        return scores

    # -- the two modes ------------------------------------------------------------------------------------
    def extract(self, images: Sequence[Image.Image]) -> Extraction:
        if not images:
            raise ValueError("nothing to look at")
        return self._constrained(images) if self.mode == "constrained" else self._json(images)

    def _json(self, images: Sequence[Image.Image]) -> Extraction:
        prompt = json_prompt(self.schema, len(images))
        answers: list[str] = []
        error = ""
        for attempt in range(self.retries + 1):
            answer = self.generate(images, prompt)
            answers.append(answer)
            try:
                parsed = parse_answer(answer)
            except AnswerError as exc:
                error = str(exc)
                prompt = retry_prompt(self.schema, error, len(images))
                continue
            values, flags = check(self.schema, parsed.data, self.lookup)
            notes = (["json repaired"] if parsed.repaired else []) + ([f"retried {attempt}"] if attempt else [])
            return Extraction(values, notes + flags, answers)
        values, flags = check(self.schema, {}, self.lookup)
        retried = [f"retried {self.retries}"] if self.retries else []
        return Extraction(values, [f"no JSON: {error}", *retried, *flags], answers)

    def _constrained(self, images: Sequence[Image.Image]) -> Extraction:
        values: dict[str, Any] = {}
        flags: list[str] = []
        answers: list[str] = []
        for f in self.schema.fields:
            prompt = field_prompt(self.schema, f, len(images))
            if f.type in ("categorical", "boolean"):
                options = list(f.values) if f.type == "categorical" else list(_BOOLEAN_OPTIONS)
                scores = self.score(images, prompt, options)
                best = options[max(range(len(options)), key=scores.__getitem__)]
                values[f.name] = best if f.type == "categorical" else best == "yes"
                continue
            answer = self.generate(images, prompt)
            answers.append(answer)
            values[f.name], flag = self._free(f, answer)
            if flag:
                flags.append(flag)
        return Extraction(values, flags, answers)

    def _free(self, f: Field, answer: str) -> tuple[Any, str | None]:
        if not answer.strip():
            return None, f"{f.name}: missing (required)" if f.required else None
        return coerce(f, answer, self.lookup)
