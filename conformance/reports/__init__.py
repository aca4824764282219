"""What a run leaves behind: results.json, report.html, merged shards, expected failures, the diff
of two runs, and the signed evidence bundle of a certification with its offline verification.
"""
