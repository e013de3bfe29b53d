"""One training run's maths: its config, data, model, optimizers, probes, diagnostics and the trainer's step."""
