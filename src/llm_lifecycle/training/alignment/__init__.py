"""Post-training with TRL and peft: conversations, shared trainer plumbing (`trl_common`), SFT,
preferences, DPO, reward model, RLOO, policy-vs-reference checks, adapters and multi-process launches."""
