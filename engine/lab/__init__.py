"""The lectures' experiments: init lab, LR finder, optimizer race, softmax, batch norm at test time, presets."""
