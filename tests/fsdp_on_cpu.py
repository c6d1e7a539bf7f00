"""FSDP on CPU ranks, for tests: accelerate runs an FSDP config on CPU ranks as DDP (a CPU rank is
MULTI_CPU, and only GPU-type ranks become FSDP). `fsdp_on_cpu` writes a start-up file, put on every rank's
PYTHONPATH, that makes them FSDP, and the environment's own FSDP2 config with what a CPU cannot do switched
off (bf16 autocast; loading on rank 0 only, which needs a GPU-type device to broadcast from)."""

from __future__ import annotations

import os
from pathlib import Path

FORCE_FSDP_ON_CPU = """
import accelerate
import accelerate.state as st
from accelerate.utils import DistributedType

_init = st.AcceleratorState.__init__


def _fsdp_on_cpu(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    plugin = kwargs.get("fsdp_plugin")
    if plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = plugin
        st.PartialState._shared_state["distributed_type"] = DistributedType.FSDP


st.AcceleratorState.__init__ = _fsdp_on_cpu
"""


def fsdp_on_cpu(tmp_path: Path, monkeypatch, extra_startup: str = "") -> Path:
    """Patch every rank started from this test into FSDP; return the CPU FSDP2 accelerate config file."""
    import yaml

    from tests.kedro_project import ROOT

    startup = tmp_path / "startup"
    startup.mkdir()
    (startup / "sitecustomize.py").write_text(FORCE_FSDP_ON_CPU + extra_startup)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(startup), os.environ.get("PYTHONPATH", "")]))
    config = yaml.safe_load((ROOT / "conf/llama3_8b/accelerate/fsdp.yaml").read_text())
    config |= {"use_cpu": True, "mixed_precision": "no"}
    config["fsdp_config"] |= {"fsdp_cpu_ram_efficient_loading": False, "fsdp_sync_module_states": False}
    path = tmp_path / "fsdp_cpu.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
