"""Multi-process LoRA SFT through `accelerate launch` (2 CPU ranks, gloo), started as the node starts it."""

from __future__ import annotations

import re

import pytest
import torch
from kedro.io.core import Version
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm_lifecycle.datasets import HFPretrainedDataset
from llm_lifecycle.training.alignment.conversations import check_conversations
from llm_lifecycle.training.alignment.distributed import (
    DistributedSettings,
    launch_command,
    model_source,
    run_distributed,
)
from llm_lifecycle.training.alignment.trl_common import TrainInputs, merge_adapter

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

CONVS = [
    {"messages": [{"role": "user", "content": q}, {"role": "bot", "content": a}]}
    for q, a in [
        ("Where is Moscow?", "Moscow is a large city."),
        ("Where does the teacher live?", "The teacher lives in Moscow."),
        ("Who flies to the river?", "The pilot flies to the river."),
        ("Seven plus five?", "Seven plus five is twelve."),
    ]
]
SETTINGS = {
    "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    "batch_size": 2,
    "lr": 1e-2,
    "max_steps": 6,
    "max_length": 64,
    "warmup_ratio": 0.0,
    "lr_scheduler_type": "constant",
    "eval_steps": 6,
    "logging_steps": 1,
    "seed": 0,
}


@pytest.mark.slow
def test_two_cpu_processes_train_one_adapter_saved_once_by_rank_0(tiny_model_dir, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"  # the launch's temporary folder, as TMPDIR says
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model_source(model) == str(tiny_model_dir)  # the workers read the checkpoint, no second copy
    train, _ = check_conversations(CONVS * 4, tokenizer)
    val, _ = check_conversations(CONVS[:2], tokenizer)
    before = {n: p.clone() for n, p in model.named_parameters()}
    job = tmp_path / "job"

    peft_model, history, summary = run_distributed(
        "sft", TrainInputs(model, tokenizer, train, val), SETTINGS, DistributedSettings(num_processes=2), job
    )

    # two ranks ran one DDP job: gloo world of 2, identical adapters on both ranks, rank 0 alone wrote
    assert summary["world_size"] == 2 and summary["num_processes"] == 2 and summary["saved_by_ranks"] == [0]
    log = (job / "launch.log").read_text()
    digests = dict(re.findall(r"\[rank (\d)\] [\w.]+alignment.worker: adapter sha256 (\w+)", log))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"], log[-2000:]
    # no Python warning from the ranks: they ignore the foreign warnings as `kedro run` does
    assert "Warning:" not in log, log[log.index("Warning:") - 300 :][:1500]
    assert [p.name for p in job.glob("*/adapter_model.safetensors")] == ["adapter_model.safetensors"]
    assert not (job / "model").exists()
    assert not any(job.glob("trainer-rank*/**/*.safetensors"))  # the trainers saved nothing themselves
    # torchelastic's per-rank folders (error files) live in the job, not in a folder left in /tmp per launch
    assert sorted(p.name for p in job.glob("torchelastic/*/attempt_0/*")) == ["0", "1"]
    assert not list(scratch.glob("torchelastic_*"))

    # training happened: loss went down, the adapter is non-zero, base weights untouched
    losses = [p["value"] for p in history["train/loss"]]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert summary["steps"] == 6
    lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)
    with peft_model.disable_adapter():
        base_now = {
            n.replace("base_model.model.", "").replace(".base_layer", ""): p
            for n, p in peft_model.named_parameters()
            if "lora_" not in n
        }
    assert all(torch.equal(before[n], base_now[n]) for n in before)

    # the node's outputs round-trip through the catalog dataset: saved once, loadable
    merged = merge_adapter(peft_model)
    ds = HFPretrainedDataset(
        filepath=str(tmp_path / "sft_model"), kind="causal_lm", version=Version(None, None)
    )
    ds.save((merged, tokenizer))
    assert len(list((tmp_path / "sft_model").iterdir())) == 1
    reloaded = HFPretrainedDataset(
        filepath=str(tmp_path / "sft_model"), kind="causal_lm", version=Version(None, None)
    ).load()
    ids = torch.tensor([tokenizer("Where is Moscow?")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, merged(input_ids=ids).logits)


def test_launch_command_uses_the_config_file_and_names_a_missing_one(tmp_path):
    cmd = launch_command(tmp_path, DistributedSettings(num_processes=2, main_process_port=29555))
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in cmd
    assert (
        cmd[cmd.index("--num_processes") + 1] == "2" and cmd[cmd.index("--main_process_port") + 1] == "29555"
    )
    assert cmd[-3:] == ["-m", "llm_lifecycle.training.alignment.worker", str(tmp_path)]
    config = tmp_path / "fsdp.yaml"
    config.write_text("distributed_type: FSDP\n")
    with_file = launch_command(tmp_path, DistributedSettings(num_processes=2, accelerate_config=str(config)))
    assert with_file[with_file.index("--config_file") + 1] == str(config) and "--multi_gpu" not in with_file
    missing = DistributedSettings(num_processes=2, accelerate_config=str(tmp_path / "no_such.yaml"))
    with pytest.raises(FileNotFoundError, match="no_such.yaml"):
        launch_command(tmp_path, missing)


def test_several_machines_need_one_address_port_and_shared_job_folder(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs main_process_ip, main_process_port, job_dir"):
        DistributedSettings(num_processes=16, num_machines=2)
    with pytest.raises(ValidationError, match="multiple of num_machines"):
        DistributedSettings(
            num_processes=3, num_machines=2, main_process_ip="10.0.0.1", main_process_port=29500, job_dir="/x"
        )
    two = DistributedSettings(
        num_processes=16, num_machines=2, main_process_ip="10.0.0.1", main_process_port=29500, job_dir="/x"
    )
    cmd = launch_command(tmp_path, two, module="llm_lifecycle.training.pretraining.worker", machine_rank=1)

    def arg(name: str) -> str:
        return cmd[cmd.index(name) + 1]

    assert (arg("--num_machines"), arg("--machine_rank"), arg("--main_process_ip")) == ("2", "1", "10.0.0.1")
    assert (arg("--num_processes"), arg("--main_process_port")) == ("16", "29500")


@pytest.mark.slow
def test_the_launch_log_streams_to_a_file_and_the_log_and_a_hang_is_killed(tmp_path, caplog):
    import logging
    import sys
    import time

    from llm_lifecycle.training.alignment.distributed import LaunchTimeoutError, run_logged

    caplog.set_level(logging.INFO, logger="llm_lifecycle.training.launch")
    talk = "import sys, time\nfor i in range(3): print('step', i, flush=True)\nsys.exit(3)"
    assert run_logged([sys.executable, "-c", talk], {}, tmp_path / "ok.log", timeout_s=60) == 3
    assert (tmp_path / "ok.log").read_text().splitlines() == ["step 0", "step 1", "step 2"]
    assert "| step 2" in caplog.text

    # A rank that never returns (an NCCL hang): the whole process group is killed at the timeout, and
    # the error names the log, which holds what the job printed before it hung.
    hang = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('rank 0 waiting', flush=True); time.sleep(600)"
    )
    start = time.monotonic()
    with pytest.raises(LaunchTimeoutError, match=r"killed after 2 s .*hang.log"):
        run_logged([sys.executable, "-c", hang], {}, tmp_path / "hang.log", timeout_s=2)
    assert time.monotonic() - start < 30
    assert (tmp_path / "hang.log").read_text() == "rank 0 waiting\n"


# On top of FSDP on CPU (tests/fsdp_on_cpu.py): a gather of the whole model's state dict (what
# `Trainer.save_model` does under FSDP) fails the job.
NO_FULL_GATHER = """

def _no_full_gather(self, *args, **kwargs):
    raise RuntimeError("the full model state dict was gathered")


accelerate.Accelerator.get_state_dict = _no_full_gather
"""


@pytest.mark.slow
def test_fsdp2_ranks_save_the_adapter_without_gathering_the_model(tiny_model_dir, tmp_path, monkeypatch):
    from tests.fsdp_on_cpu import fsdp_on_cpu

    config = fsdp_on_cpu(tmp_path, monkeypatch, extra_startup=NO_FULL_GATHER)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    train, _ = check_conversations(CONVS * 4, tokenizer)
    settings = DistributedSettings(num_processes=2, accelerate_config=str(config), timeout_s=300)
    job = tmp_path / "job"
    peft_model, history, summary = run_distributed(
        "sft", TrainInputs(model, tokenizer, train), SETTINGS, settings, job
    )

    log = (job / "launch.log").read_text()
    assert log.count("DistributedType.FSDP, FSDP: True") == 2, log[-3000:]  # both ranks really sharded
    digests = dict(re.findall(r"\[rank (\d)\] [\w.]+alignment.worker: adapter sha256 (\w+)", log))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"]
    assert (
        summary["saved_by_ranks"] == [0]
        and history["train/loss"][-1]["value"] < history["train/loss"][0]["value"]
    )
    lora = {n: p for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert lora and all(p.abs().sum() > 0 for p in lora.values())  # the full matrices came back, not shards
    assert all(p.shape[-1] == 8 for p in lora.values())  # r = 8


@pytest.mark.slow
def test_join_job_starts_the_other_machines_ranks_from_the_environments_parameters(tmp_path):
    """`kedro join-job` on machine k builds the launch of machine k's ranks from `<stage>.distributed`."""
    import subprocess
    import sys

    from tests.kedro_project import make_project

    project = make_project(tmp_path / "project")
    (project / "conf/local/parameters.yml").write_text(
        "pretraining:\n  distributed:\n    num_processes: 16\n    num_machines: 2\n"
        "    main_process_ip: 10.1.2.3\n    main_process_port: 29500\n    job_dir: /shared/job\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "kedro",
        "join-job",
        "--stage",
        "pretraining",
        "--machine-rank",
        "1",
        "--dry-run",
    ]
    out = subprocess.run(cmd, check=False, cwd=project, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    assert "--machine_rank 1 --main_process_ip 10.1.2.3" in line and "--num_processes 16" in line
    assert line.endswith("-m llm_lifecycle.training.pretraining.worker /shared/job")
    bad = subprocess.run(
        cmd[:-3] + ["--machine-rank", "0"],
        check=False,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "machine 0 runs `kedro run`" in bad.stderr
