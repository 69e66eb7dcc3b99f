"""Stores composed of other stores: a cache tier (``cache.py``), substituters tried in turn with
verified failover (``substituters.py``), and the in-memory chunk cache failover reads share
(``recent.py``)."""
