"""The docs harness: every fenced code block of README.md and docs/*.md, run or validated.

Start with ``harness.py`` (the conventions, and the dispatch by language) or
``README.md`` next to it; ``test_docs.py`` holds the cases.
"""
