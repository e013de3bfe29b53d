"""GUI test fixtures: isolated window settings and a shown main window (closed after each test,
which stops and joins its training thread)."""
import pytest

from gui.main_window import MainWindow


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Never read or write the user's remembered window settings."""
    monkeypatch.setenv("BABYSIT_SETTINGS_DIR", str(tmp_path / "settings"))
    return tmp_path / "settings"


@pytest.fixture
def window(qtbot):
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
