"""Probe thresholds and ranges, in a module without torch so the window can import them cheaply.

    sat_frac    tanh: |a| > 0.99;  sigmoid: a < 0.01 or a > 0.99 (the local gradient is then below
                2% of its peak for tanh, 4% for sigmoid)
    dead_frac   ReLU family: outputs <= 0
"""
SATURATION = {"tanh": (-0.99, 0.99), "sigmoid": (0.01, 0.99)}
BOUNDED_RANGE = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def fraction_key(activation: str) -> str:
    """The layer fraction that says what is wrong with this activation: 'sat_frac' for the ones
    that saturate (tanh, sigmoid), 'dead_frac' for the ReLU family."""
    return "sat_frac" if activation in SATURATION else "dead_frac"

# TensorBoard's distribution view draws these percentiles (normal-distribution basis points)
PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)
