"""Crowd simulator: replays real crowd answers (or synthetic workers fitted to them) through the
platform's own services, so that a requester can price a project and an engineer can judge a
routing rule before anyone is paid. See docs/simulator.md.

``simulator.data`` and ``simulator.crowd`` are pure Python/numpy; ``simulator.engine`` (local runs
on a simulated clock), ``simulator.remote`` (load runs against a deployment's REST API) and
``simulator.results`` use Django.
"""
