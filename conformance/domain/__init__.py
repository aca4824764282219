"""The suite's model of KeepCall: calls, scenarios, requests, the oracle of what the spec allows,
the parameter matrix, Hypothesis strategies and fuzzing plans. Pure: no I/O.
"""
