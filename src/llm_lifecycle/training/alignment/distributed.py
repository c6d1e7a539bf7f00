"""Multi-process SFT/DPO through `accelerate launch`, started from a Kedro node.

Design
------
A Kedro node runs in one process; data parallelism needs N. With `distributed.num_processes > 1` the
SFT and DPO nodes hand the job to `run_distributed`, which

1. writes a job folder: the model (its own directory when it was loaded from one, or from the local hub
   cache; otherwise `save_pretrained` in safetensors), the tokenizer, the train/val records as JSONL and
   the settings as JSON;
2. runs `accelerate launch [--config_file conf/.../accelerate/<x>.yaml] --num_processes N
   -m llm_lifecycle.training.alignment.worker <job>`: every rank loads the model and trains its shard of each
   batch (DDP by default; FSDP or DeepSpeed from the accelerate config file); the trainer all-reduces
   gradients, so the ranks end with identical adapters;
3. reads back what **rank 0 alone** wrote (`adapter/` and `result.json`: the metrics history and
   summary) and attaches the adapter to the node's in-memory model, so the node returns exactly what the
   single-process path returns.

The worker ranks never touch the Kedro catalog or MLflow: the node (the parent process) saves the
versioned outputs and kedro-mlflow logs the metrics once. The workers' output is streamed, line by
line, to `launch.log` in the job folder and to the node's own log while they run, and the launch is
killed (its whole process group) after `timeout_s`; a hung collective inside it is ended sooner by
torch's own watchdog (`ddp_timeout`, 30 min by default). `batch_size` stays per device, so N processes
see N times the examples per step (the usual DDP convention; lower `grad_accum` to keep the global
batch). On a machine without CUDA the trainer runs with `use_cpu` and torch's gloo backend, which is how
the 2-process test proves the path on CPU.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from llm_lifecycle.datasets.jsonl import write_jsonl
from llm_lifecycle.training.alignment.trl_common import TrainInputs
from llm_lifecycle.training.launch import (  # re-exported: the launcher is shared with pretraining
    DistributedSettings,
    LaunchTimeoutError,
    launch_command,
    launch_job,
    run_logged,
)

__all__ = [
    "DistributedSettings",
    "LaunchTimeoutError",
    "launch_command",
    "model_source",
    "run_distributed",
    "run_logged",
    "train_adapter",
    "train_here",
]

logger = logging.getLogger(__name__)

Kind = Literal["sft", "dpo"]


def model_source(model: Any) -> str | None:
    """A directory `from_pretrained` can read the model's weights from without saving them again, or None.

    The model's own `name_or_path` when it is a local checkpoint (the catalog loaded it from there) or a
    hub id already in the local cache (no download from the workers).
    """
    name = str(getattr(model, "name_or_path", "") or "")
    if name and (Path(name) / "config.json").is_file():
        return name
    if name and not os.path.exists(name) and name.count("/") == 1:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name, "config.json")
        except Exception:  # noqa: BLE001 - not a hub id, or no cache: fall back to saving
            cached = None
        if isinstance(cached, str):
            return str(Path(cached).parent)
    return None


def run_distributed(
    kind: Kind,
    inputs: TrainInputs,
    train_settings: dict[str, Any],
    settings: DistributedSettings,
    work_dir: str | os.PathLike,
) -> tuple[Any, dict, dict]:
    """Train `kind` ("sft" or "dpo") on `settings.num_processes` ranks; see the module docstring.

    Returns (the node's model with the trained LoRA adapter attached, metrics history, summary). The
    summary gains `num_processes` and `saved_by_ranks` (the ranks that wrote outputs: `[0]`).
    """
    from peft import PeftModel

    model, tokenizer = inputs.model, inputs.tokenizer
    job = Path(work_dir)
    job.mkdir(parents=True, exist_ok=True)
    source = model_source(model)
    if source is None:
        source = str(job / "model")
        model.save_pretrained(source, safe_serialization=True)
    tokenizer.save_pretrained(job / "tokenizer")
    write_jsonl(inputs.train, job / "train.jsonl")
    write_jsonl(inputs.val or [], job / "val.jsonl")
    spec = {
        "kind": kind,
        "model": source,
        "dtype": str(getattr(model, "dtype", "float32")).removeprefix("torch."),
        "settings": train_settings,
    }
    (job / "job.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")

    saved_by = launch_job(kind, job, settings, "llm_lifecycle.training.alignment.worker")
    result = json.loads((job / "result.json").read_text(encoding="utf-8"))
    peft_model = PeftModel.from_pretrained(model, job / "adapter", is_trainable=False)
    # The adapter names the base it belongs to by the node's own id (a catalog folder or hub id), not by
    # the job folder or cache snapshot the workers read, which are gone or machine-specific.
    peft_model.peft_config["default"].base_model_name_or_path = model.name_or_path
    peft_model.eval()
    summary = {**result["summary"], "num_processes": settings.num_processes, "saved_by_ranks": saved_by}
    return peft_model, result["history"], summary


def train_here(kind: Kind, inputs: TrainInputs, train_settings: dict[str, Any], output_dir: str) -> Any:
    """`train_sft` or `train_dpo` in this process (one rank's work); returns its `TrainResult`."""
    if kind == "sft":
        from llm_lifecycle.training.alignment.sft import SFTTrainerSettings, train_sft

        return train_sft(inputs, SFTTrainerSettings.model_validate(train_settings), output_dir)
    if kind == "dpo":
        from llm_lifecycle.training.alignment.dpo import DPOTrainerSettings, train_dpo

        return train_dpo(inputs, DPOTrainerSettings.model_validate(train_settings), output_dir)
    raise ValueError(f"unknown training kind {kind!r} (expected 'sft' or 'dpo')")


def train_adapter(
    kind: Kind,
    inputs: TrainInputs,
    train_settings: dict[str, Any],
    settings: DistributedSettings | None = None,
) -> tuple[Any, dict, dict]:
    """LoRA SFT or DPO, in this process or on `settings.num_processes` ranks.

    Returns (PeftModel, metrics history, summary) either way; the trainer's scratch folder is temporary
    because the catalog owns every output.
    """
    import tempfile

    settings = settings or DistributedSettings()
    if settings.num_processes > 1 and settings.job_dir is not None:  # a folder every machine sees
        return run_distributed(kind, inputs, train_settings, settings, settings.job_dir)
    with tempfile.TemporaryDirectory(prefix=f"{kind}-") as scratch:
        if settings.num_processes > 1:
            return run_distributed(kind, inputs, train_settings, settings, scratch)
        result = train_here(kind, inputs, train_settings, scratch)
    return result.model, result.history, result.summary
