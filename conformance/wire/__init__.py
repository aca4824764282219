"""Talking to a target and reading what it says: the HTTP client with hard limits, the control
protocol, profiles, pacing, redaction and the sink every written line passes, and bounded
parsing of the answers.
"""
