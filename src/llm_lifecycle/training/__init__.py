"""Training: pretraining data packing (`packing`) and the plain PyTorch pretraining loop (`pretrain`).

Import from the submodules (`from llm_lifecycle.training.pretrain import pretrain`): they import torch,
and this package also holds lighter modules that should not pay for it.
"""
