"""What a user runs: the CLI's table of commands, the pytest entry point and plugin, the property
machinery, settings and the options table. It drives a run and imports every layer below.
"""
