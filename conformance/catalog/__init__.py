"""The page as data and the requirement catalog built on it: parameter names, listed values,
envelope names; each requirement's ID, level, quotes and readings.
"""
