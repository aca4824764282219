"""What an exchange means: checks against the oracle's expectation, the run-wide comparisons
(wording, readings), the ledger of verdicts and the grouping of failures by cause. No I/O.
"""
