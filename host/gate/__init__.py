"""The release gate: verdicts on repeats (regressed, no regression, inconclusive), and their reports."""
