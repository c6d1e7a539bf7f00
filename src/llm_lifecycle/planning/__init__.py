"""A plan before the money is spent: memory per device, hours and API cost of each stage (docs/plan.md).

`devices` (known GPUs, this machine), `memory` (weights, trainable state, activations, KV cache),
`compute` (training FLOPs, decode roofline), `stages` (a stage priced on a device setup, what would make
it fit), `plan` (the table, API calls and cost, efficiencies measured by a run), `lifecycle` (the
stages from each stage's own settings), `article` (the course article's numbers recomputed).
"""
