"""One case run: provision its scenario, send its request, read the flags back and judge the
answer, retrying nothing the target did not ask for.
"""
