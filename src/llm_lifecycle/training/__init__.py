"""Training, by part of the lifecycle.

- `training.pretraining`: packing a corpus into blocks, the plain PyTorch pretraining loop with resume
  and MFU, base-model evaluation, plots, and the scaling-law sweep.
- `training.alignment`: post-training with TRL and peft: Saiga conversation checks, the shared trainer
  plumbing (`trl_common`), SFT, preference pairs, DPO, the Bradley-Terry reward model, RLOO, the
  policy-vs-reference checks, and multi-process launches.

Import from the modules (`from llm_lifecycle.training.alignment.sft import train_sft`): they import
torch and TRL inside their functions, and the packages stay cheap to import for the pipeline registry.
"""
