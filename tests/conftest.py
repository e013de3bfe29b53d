"""Shared test setup: Qt runs headless (offscreen) so the GUI tests need no display."""
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# runs trained by the tests are recorded in a folder of their own, never in the user's run store
TEST_RUNS_DIR = os.environ["BABYSIT_RUNS_DIR"] = tempfile.mkdtemp(prefix="babysit-test-runs-")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


@pytest.fixture(autouse=True, scope="session")
def test_runs_dir_removed():
    yield
    shutil.rmtree(TEST_RUNS_DIR, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny matrices: torch's intra-op threads only contend on a 2-core machine (10x slower seen)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def model_of():
    """model_of(run): a torch copy of a worker's run (engine/runs/remote.py's RemoteSession) built here
    from the weights it gives, in eval mode: the test's own reading beside the worker's."""
    def build(run):
        import torch
        from engine.train.model import MLP
        d, c = run.data, run.cfg
        model = MLP(d.n_features, d.n_classes, c.depth, c.width, c.activation, bn=c.bn).eval()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in run.weights().items()})
        return model
    return build
