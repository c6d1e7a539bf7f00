"""Pretraining: packing (`packing`), the training loop (`settings`, `loop`, `checkpoints`), the base model
node's work (`base_model`), its evaluation (`evaluation`) and plots (`plots`); the scaling-law sweep
(`scaling`), its fits (`scaling_fits`), the analysis the pipeline reports (`scaling_analysis`) and its
plot (`scaling_plots`)."""
