"""One rank of a multi-process SFT/DPO job (`python -m llm_lifecycle.training.alignment.worker <job_dir>`).

Started by `accelerate launch` from `training.alignment.distributed.run_distributed`, which documents the job
folder. Every rank loads the model and trains; every rank takes part in gathering the adapter (and only
the adapter: `training.alignment.adapters`), and only rank 0 writes (`adapter/`, `result.json` and the
`saved-rank0` marker the parent checks), so the outputs exist once however many ranks ran.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from llm_lifecycle.foreign_warnings import ignore_foreign_warnings

logger = logging.getLogger("llm_lifecycle.training.alignment.worker")


def main(job_dir: str) -> None:
    ignore_foreign_warnings()  # as `kedro run` does (settings.py): PEFT's wrapping warns on every rank
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_lifecycle.datasets.jsonl import read_jsonl
    from llm_lifecycle.training.alignment.adapters import adapter_state_dict, digest, write_adapter
    from llm_lifecycle.training.alignment.distributed import train_here
    from llm_lifecycle.training.alignment.trl_common import TrainInputs
    from llm_lifecycle.training.launch import wait_for_job

    job = Path(job_dir)
    wait_for_job(job)  # machines > 0 (`kedro join-job`) may start before machine 0 has written the job
    spec = json.loads((job / "job.json").read_text(encoding="utf-8"))
    state = PartialState(cpu=not torch.cuda.is_available())
    logging.basicConfig(level=logging.INFO, format=f"[rank {state.process_index}] %(name)s: %(message)s")
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=getattr(torch, spec["dtype"]))
    tokenizer = AutoTokenizer.from_pretrained(job / "tokenizer")
    train, val = list(read_jsonl(job / "train.jsonl")), list(read_jsonl(job / "val.jsonl")) or None
    out = job / f"trainer-rank{state.process_index}"
    result = train_here(spec["kind"], TrainInputs(model, tokenizer, train, val), spec["settings"], str(out))
    logger.info("%s, FSDP: %s", state.distributed_type, result.trainer.is_fsdp_enabled)
    # Every rank gathers the LoRA tensors (a collective under FSDP2); the frozen base is never gathered.
    adapter = adapter_state_dict(result.trainer.model)
    # Gradients are all-reduced, so every rank must hold the same adapter: the log shows it.
    logger.info("adapter sha256 %s", digest(adapter))
    if state.is_main_process:
        write_adapter(result.trainer.model, adapter, job / "adapter")
        summary = {k: v for k, v in result.summary.items() if isinstance(v, int | float | str | bool | None)}
        summary["world_size"] = state.num_processes
        (job / "result.json").write_text(
            json.dumps({"history": result.history, "summary": summary}), encoding="utf-8"
        )
        (job / "saved-rank0").touch()
    state.wait_for_everyone()


if __name__ == "__main__":
    from llm_lifecycle.training.launch import die_with_launcher

    die_with_launcher()
    main(sys.argv[1])
