"""A tiny SmolVLM with random weights, saved with save_pretrained like real checkpoints (model + processor)."""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>",
            "<global-img>", "<video>"]  # fmt: skip
WORDS = [
    "a",
    "the",
    "cat",
    "dog",
    "on",
    "of",
    "in",
    "is",
    "photo",
    "picture",
    "with",
    "and",
    "man",
    "woman",
    "car",
    "red",
    "blue",
    "green",
    "sky",
    "describe",
    "this",
    "image",
    ".",
]
CHAT = (
    "{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def make_tiny_vlm(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SmolVLM (config, random weights, a word-level tokenizer, the processor) to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
    )
    from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

    vocab = {t: i for i, t in enumerate(SPECIALS + sorted(set(WORDS)))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="<end_of_utterance>",
        bos_token="<|im_start|>", additional_special_tokens=SPECIALS[2:],
    )  # fmt: skip
    images = SmolVLMImageProcessor(
        do_image_splitting=False, size={"longest_edge": 64}, max_image_size={"longest_edge": 64}
    )
    processor = SmolVLMProcessor(
        image_processor=images, tokenizer=fast, video_processor=SmolVLMVideoProcessor(), image_seq_len=4,
        chat_template=CHAT,
    )  # fmt: skip
    config = SmolVLMConfig(
        text_config={"model_type": "llama", "vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
                     "max_position_embeddings": 256, "pad_token_id": 0},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 16},
        image_token_id=vocab["<image>"], scale_factor=2, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config)
    # Random weights pick special tokens as often as words; the saved generation config keeps the tiny model
    # to words for a few tokens, as a trained model would (so captions are never empty).
    model.generation_config.min_new_tokens = 3
    model.generation_config.suppress_tokens = [vocab[t] for t in SPECIALS if t != "<end_of_utterance>"]
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def make_lora_adapter(model_folder: Path, folder: Path) -> Path:
    """A LoRA adapter (peft) on the tiny VLM's attention projections, with non-zero weights so it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(model_folder)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)
    peft_model.save_pretrained(folder)
    return folder
