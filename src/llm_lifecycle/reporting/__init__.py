"""Human-readable summaries of a run: the report card (`report_card`) and run comparisons (`compare`)."""
