"""Pretraining: packing (`packing`), the training loop (`loop`), its checkpoints, base-model evaluation
(`evaluation`), plots, and the scaling-law sweep (`scaling`)."""
