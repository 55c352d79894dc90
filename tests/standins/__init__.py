"""Local stand-ins for the remote services the portal talks to, served over real HTTP.

Each stand-in is a small WSGI app run by Werkzeug's server in a thread (tests) or as its own
process (`python -m tests.standins.slack --port N`, for the benchmarks and browser tests). Tests
change their behaviour (down, 429, slow) directly; other processes use `/_standin/` endpoints.
"""
