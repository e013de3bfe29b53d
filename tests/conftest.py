"""Shared test setup: Qt runs headless (offscreen) so the GUI tests need no display."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny matrices: torch's intra-op threads only contend on a 2-core machine (10x slower seen)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
