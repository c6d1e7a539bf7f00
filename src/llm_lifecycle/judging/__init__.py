"""MT-Bench-style evaluation: answers, judge prompts, verdict parsing, aggregation, the offline verifier."""
