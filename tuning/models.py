"""Loading what a recipe tunes: the parent variant, its tokenizer (plus record tags), the
weights (full precision, masked-LM with a fresh head, or nf4), and LoRA adapters on top.

Every check that can fail on user input (unknown LoRA target, bitsandbytes unusable, an
adapter parent under an adapter) raises ConfigError here, before any training step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.errors import ConfigError, MedtuneError


def resolve_parent(recipe, store):
    """The recipe's ``base`` as a ModelRef named as it will appear in the lineage."""
    from harness.models import resolve

    return resolve(recipe.base, store=store)


def device_dtype(train):
    """The device this process trains on and the dtype. Under a launcher (accelerate launch, torchrun)
    ``cuda`` means this rank's own GPU (``cuda:LOCAL_RANK``), never every rank on cuda:0."""
    from harness import distributed
    from harness.models.hf_load import pick_device, pick_dtype

    device = pick_device(train.device)
    if distributed.launched() and device == "cuda":
        device = f"cuda:{distributed.local_rank()}"
    return device, pick_dtype(train.dtype, device)


def place(model, device: str):
    """The model on ``device`` in one process. Under a launcher the weights stay where they were loaded:
    the Trainer moves them to the rank's device (DDP), accelerate shards them (FSDP, DeepSpeed)."""
    from harness import distributed

    return model if distributed.launched() else model.to(device)


def load_tokenizer(ref, special_tokens: list[str]):
    """The parent's tokenizer with ``special_tokens`` added; returns (tokenizer, ids of new tokens)."""
    from harness.models.hf_load import load_tokenizer as harness_tokenizer

    tokenizer = harness_tokenizer(ref)
    before = len(tokenizer)
    if special_tokens:
        tokenizer.add_tokens(list(special_tokens), special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.sep_token
    return tokenizer, list(range(before, len(tokenizer)))


def _fit_embeddings(model, tokenizer) -> None:
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))


# -- sharded training: accelerate launch --config_file tuning/accelerate/{fsdp2,deepspeed_zero3}.yaml ------------
def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


def deepspeed_stage(trainer_args: dict) -> int | None:
    """The ZeRO stage of a run that uses DeepSpeed (0: stage unknown), None when it does not. From
    ``train.trainer_args.deepspeed`` (a dict or a JSON file), else from ``accelerate launch`` with a DeepSpeed
    config (ACCELERATE_USE_DEEPSPEED, ACCELERATE_DEEPSPEED_ZERO_STAGE or ..._CONFIG_FILE in the environment)."""
    config = trainer_args.get("deepspeed")
    if not config:
        if not _env_flag("ACCELERATE_USE_DEEPSPEED"):
            return None
        stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "").strip()
        if stage.isdigit():
            return int(stage)
        config = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
        if not config:
            return 0
    if isinstance(config, (str, Path)):
        try:
            config = json.loads(Path(config).expanduser().read_text())
        except (OSError, ValueError):
            return 0  # TrainingArguments reports the unreadable file
    stage = (config.get("zero_optimization") or {}).get("stage", 0) if isinstance(config, dict) else 0
    return int(stage) if str(stage).isdigit() else 0


def sharding(train, device: str) -> str | None:
    """``fsdp`` or ``zero3`` when the ranks shard this run's weights (FSDP, DeepSpeed ZeRO-3), else None (whole
    weights on every rank: one process, DDP, ZeRO-1/2). On the CPU accelerate runs those configs as DDP: None."""
    if not device.startswith("cuda"):
        return None
    if _env_flag("ACCELERATE_USE_FSDP") or train.trainer_args.get("fsdp"):
        return "fsdp"
    return "zero3" if deepspeed_stage(train.trainer_args) == 3 else None


SHARDED = {"fsdp": "FSDP", "zero3": "DeepSpeed ZeRO-3"}


def check_qlora_sharding(train, device: str, dtype) -> str | None:
    """The sharding a QLoRA run trains under (None: none), or a ConfigError naming the recipe field when the
    combination cannot work. Sharded, the 4-bit weights are packed in bfloat16 storage (``bnb_4bit_quant_storage``),
    the dtype of every other weight, so FSDP / ZeRO-3 flatten and shard them with the rest, and bf16 mixed
    precision casts no packed bits (peft's and accelerate's FSDP-QLoRA and ZeRO-3-QLoRA guides)."""
    import torch

    kind = sharding(train, device)
    if kind and dtype != torch.bfloat16:
        raise ConfigError(f"train.dtype {train.dtype}: method qlora under {SHARDED[kind]} needs bfloat16 (its 4-bit "
                          "weights are sharded in bfloat16 storage, the dtype of every other weight); "
                          "set train.dtype bfloat16 or auto")
    return kind


def qlora_quantization(dtype, sharded: str | None = None):
    """nf4 with double quantisation, computing in ``dtype`` (bf16, else fp32); under FSDP / ZeRO-3 the packed
    4-bit weights are stored as bf16 (``bnb_4bit_quant_storage``), as the other weights (check_qlora_sharding)."""
    import torch
    from transformers import BitsAndBytesConfig

    extra = {"bnb_4bit_quant_storage": torch.bfloat16} if sharded else {}
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16 if dtype == torch.bfloat16 else torch.float32,
                              **extra)


def load_causal(ref, tokenizer, dtype, device: str = "cpu", quantize: bool = False, merge_adapter: bool = True,
                sharded: str | None = None):
    """A causal LM of the parent. An adapter parent is merged into its base (full-weight methods);
    adapter methods need a full-weight parent, since their own adapter's base must be a directory.
    ``sharded`` (``fsdp`` / ``zero3``, see ``check_qlora_sharding``): how a QLoRA run's ranks shard the weights."""
    from transformers import AutoModelForCausalLM

    if ref.adapter and not merge_adapter:
        raise ConfigError(f"base {ref.name!r} is a peft adapter ({ref.adapter}); LoRA/QLoRA need a full-weight base: "
                          "train it with method full or dapt, or use the adapter's base")
    kwargs = {}
    if quantize:
        kwargs["quantization_config"] = qlora_quantization(dtype, sharded)
        if sharded != "zero3":  # transformers refuses a device_map under ZeRO-3 (DeepSpeed places the weights)
            kwargs["device_map"] = {"": device}  # weights are quantised as they land on the device
    model = AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype, use_safetensors=True, **kwargs)
    if ref.adapter:
        from peft import PeftModel

        _fit_embeddings(model, tokenizer)
        model = PeftModel.from_pretrained(model, ref.adapter).merge_and_unload()
        model.requires_grad_(True)  # peft loads an adapter for inference (every weight frozen); full methods train them all
    _fit_embeddings(model, tokenizer)
    return model


def load_masked_lm(ref, tokenizer, dtype):
    """A masked LM of an encoder. A checkpoint without an MLM head (all-MiniLM) gets a fresh one,
    its decoder tied to the word embeddings (``tie_word_embeddings``), so only the small
    transform layer and bias start from scratch."""
    from transformers import AutoConfig, AutoModelForMaskedLM

    if ref.adapter:
        raise ConfigError(f"base {ref.name!r} is a peft adapter; masked-LM pretraining needs a full-weight encoder")
    config = AutoConfig.from_pretrained(ref.path)
    config.tie_word_embeddings = True
    model = AutoModelForMaskedLM.from_pretrained(ref.path, config=config, dtype=dtype, use_safetensors=True)
    _fit_embeddings(model, tokenizer)
    model.tie_weights()
    return model


def linear_module_names(model) -> list[str]:
    """Last name components of the Linear-like modules (what LoRA ``target_modules`` may name)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    kinds = [torch.nn.Linear, Conv1D]
    try:
        bnb = import_bitsandbytes()
        kinds += [bnb.nn.Linear4bit, bnb.nn.Linear8bitLt]
    except ImportError:
        pass
    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, tuple(kinds)) and name}
    return sorted(names)


def check_targets(model, targets: list[str]) -> bool:
    """Raise if a target is not a Linear module of the model; returns whether they are GPT-2 Conv1D."""
    from transformers.pytorch_utils import Conv1D

    available = linear_module_names(model)
    missing = [t for t in targets if t not in available]
    if missing:
        raise ConfigError(f"lora.target_modules: {', '.join(missing)} not in the model; "
                          f"Linear modules available: {', '.join(available)}")
    return any(isinstance(m, Conv1D) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in targets)


def add_lora(model, lora, new_token_ids: list[int], quantized: bool = False, gradient_checkpointing: bool = False,
             sharded: str | None = None):
    """Wrap with peft LoRA; tokens added to the vocabulary are trained and saved with the adapter.

    QLoRA sharded over the ranks (``sharded``: FSDP / ZeRO-3) keeps ONE dtype, bf16, for every weight: peft's
    ``prepare_model_for_kbit_training`` would upcast the norms and embeddings to fp32 (and the adapters, by
    default) beside the bf16-stored 4-bit weights, which FSDP cannot flatten into one shard; so the base is
    frozen and checkpointed here without the upcast, and the adapters stay bf16 (as TRL does for sharded QLoRA)."""
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    fan_in_fan_out = check_targets(model, lora.target_modules)
    if quantized and sharded:
        model.requires_grad_(False)
        if gradient_checkpointing:
            enable = getattr(model, "activation_checkpointing_enable", None)  # transformers 5.24+
            if enable is not None:
                enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
    elif quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    extra = {"trainable_token_indices": new_token_ids} if new_token_ids else {}
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), fan_in_fan_out=fan_in_fan_out, **extra)
    if not (quantized and sharded):
        return get_peft_model(model, config)
    import torch

    model = get_peft_model(model, config, autocast_adapter_dtype=False)
    for param in model.parameters():
        if param.is_floating_point() and param.dtype != torch.bfloat16 and type(param).__name__ != "Params4bit":
            param.data = param.data.to(torch.bfloat16)
    return model


def import_bitsandbytes():
    """``bitsandbytes``, without its import-time warning about an optional CPU kernel package
    (``kernels``, fetched from a hub) that a user can neither install offline nor needs."""
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    import bitsandbytes

    return bitsandbytes


def keep_4bit_trainable(model) -> list[str]:
    """Names of the model's 4-bit Linear layers, set up to train on CPU as on GPU.

    bitsandbytes (0.50) repacks a Linear4bit's weight for its AVX512-BF16 CPU kernel the first time
    the layer runs in eval mode without grad -- the Trainer's first validation pass. That kernel has no
    autograd: training steps after it lose the gradient through every 4-bit layer (silently), and it
    needs in_features divisible by the block size (64) and out_features by 32 (else a reshape error).
    The repack is an inference speed-up; training turns it off and keeps bnb's ordinary 4-bit matmul.
    Raises if nothing was quantised (QLoRA would be plain LoRA under another name)."""
    bnb = import_bitsandbytes()
    names = []
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            names.append(name)
    if not names:
        raise ConfigError("method qlora: no Linear layer of the model was quantised to 4 bits; use method lora")
    return names


def check_bitsandbytes(device: str) -> None:
    """QLoRA needs bitsandbytes' nf4 kernels on this device: try one tiny 4-bit layer first."""
    try:
        bnb = import_bitsandbytes()
        import torch

        layer = bnb.nn.Linear4bit(64, 64, bias=False, quant_type="nf4", compute_dtype=torch.float32).to(device)
        layer(torch.randn(2, 64, device=device))
    except Exception as exc:  # ImportError, missing native library, no kernel for this device
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"method qlora: bitsandbytes cannot run on {device} here ({type(exc).__name__}: {first}); "
                          "use method lora instead") from None


def self_generate(model, tokenizer, n: int, max_new_tokens: int, seed: int, batch: int = 16) -> list[str]:
    """Passages the parent writes itself from its BOS/EOS token (self-synthesised rehearsal)."""
    import torch

    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if start is None:
        raise MedtuneError("data.replay.file 'self': the tokenizer has no BOS/EOS token to start generation from")
    torch.manual_seed(seed)
    texts: list[str] = []
    model.eval()
    with torch.no_grad():
        while len(texts) < n:
            k = min(batch, n - len(texts))
            prompt = torch.full((k, 1), start, dtype=torch.long, device=model.device)
            out = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_p=0.95,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
            texts += [t.strip() for t in tokenizer.batch_decode(out[:, 1:], skip_special_tokens=True)]
    model.train()
    return [t for t in texts if t] or ["."]
