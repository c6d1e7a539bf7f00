"""One rank of a multi-process pretraining job (`python -m llm_lifecycle.training.pretraining.worker <job>`).

Started by `accelerate launch` from `pretraining.distributed.run_job`, which documents the job folder.
Every rank builds the seeded decoder, maps its data and trains (`base_model.train_base_model` with a
`Parallel`); every rank takes part in gathering the final weights, and rank 0 alone writes `model/`,
`result.json` and the `saved-rank0` marker the parent checks.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


def main(job_dir: str) -> None:
    import torch
    from accelerate import Accelerator

    from llm_lifecycle.modeling.config import ModelSettings
    from llm_lifecycle.training.launch import wait_for_job
    from llm_lifecycle.training.pretraining.base_model import train_base_model
    from llm_lifecycle.training.pretraining.distributed import load_blocks
    from llm_lifecycle.training.pretraining.parallel import Parallel
    from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

    job = Path(job_dir)
    wait_for_job(job)  # machines > 0 may start before machine 0's node has written the job
    spec = json.loads((job / "job.json").read_text(encoding="utf-8"))
    accelerator = Accelerator(cpu=not torch.cuda.is_available())  # no CUDA: CPU ranks over gloo
    par = Parallel.from_accelerator(accelerator)
    logging.basicConfig(level=logging.INFO, format=f"[rank {par.rank}] %(name)s: %(message)s")
    logging.getLogger(__name__).info("%s, %d ranks", accelerator.distributed_type, par.world)
    blocks = {
        "train": load_blocks(spec["data"]["train"]),
        "val": load_blocks(spec["data"]["val"]),
        "stats": spec["stats"],
    }
    run = train_base_model(
        ModelSettings(**spec["model"]),
        blocks,
        PretrainLoopSettings(**spec["train"]),
        spec["checkpoint_root"],
        spec["measure_ceiling"],
        parallel=par,
    )
    if par.is_main:
        run.model.save_pretrained(job / "model", state_dict=run.state_dict)
        summary = {k: v for k, v in run.summary.items() if isinstance(v, int | float | str | bool | None)}
        result = {"history": run.history, "summary": summary, "final_step": run.final_step}
        (job / "result.json").write_text(json.dumps(result), encoding="utf-8")
        (job / "saved-rank0").touch()
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    from llm_lifecycle.training.launch import die_with_launcher

    die_with_launcher()
    main(sys.argv[1])
