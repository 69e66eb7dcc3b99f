"""The bao shift explorer behind ``baostore shift-report``: measuring (measure.py, over a live
server: loopback.py, wire.py, lying.py) and the optional plot (plot.py).
"""
