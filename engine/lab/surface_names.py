"""The optimizer race's names, without torch: the command line's parser is built from them at
every start, the window's too, and importing torch there would cost seconds before a window paints."""
SURFACES = ("taco", "saddle", "local_minimum", "rosenbrock")
DEFAULT_CONDITION = 100.0  # the taco shell: steep curvature / shallow curvature
