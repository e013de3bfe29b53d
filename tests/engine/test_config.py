"""RunConfig: validation in words, TOML round trip, unknown keys rejected."""
import pytest

from engine.train.config import RunConfig
from engine.errors import ConfigError


def test_defaults_are_valid_and_round_trip_through_toml(tmp_path):
    cfg = RunConfig(lr=0.02, activation="tanh", bn=True, subset=20, init="he")
    assert cfg.validate().init == "he_normal"
    path = tmp_path / "run.toml"
    path.write_text(cfg.to_toml())
    back = RunConfig.from_toml(path)
    assert back == cfg


@pytest.mark.parametrize("field,value,words", [
    ("lr", -1.0, "lr must be > 0"),
    ("lr", 0, "lr must be > 0"),
    ("lr", "abc", "lr must be a number"),
    ("depth", 0, "depth must be >= 1"),
    ("depth", 2.5, "depth must be an integer"),
    ("activation", "swish", "activation must be one of"),
    ("val_fraction", 0.95, "val_fraction must be <= 0.9"),
    ("lr", float("nan"), "lr must be finite"),
])
def test_bad_values_are_named(field, value, words):
    cfg = RunConfig()
    setattr(cfg, field, value)
    problems = cfg.problems()
    assert field in problems and words in problems[field]
    with pytest.raises(ConfigError, match=words):
        cfg.validate()


@pytest.mark.parametrize("content,words", [
    (b"lr = 0.1\nlearning_rat = 3\n", "unknown config key 'learning_rat'"),
    (b'dataset = "file"\ndata_path = 5\n', "data_path must be a path in quotes, got 5"),
    (b"\xff\xfel\x00r\x00 = 1", "not a UTF-8 text file"),
], ids=["unknown key", "data path not text", "not utf-8"])
def test_a_bad_config_file_is_named_in_words(tmp_path, content, words):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_toml(path)


def test_malformed_toml_and_missing_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("lr = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.from_toml(path)
    with pytest.raises(ConfigError, match="not found"):
        RunConfig.from_toml(tmp_path / "missing.toml")


def test_file_datasets_need_a_path():
    with pytest.raises(ConfigError, match="needs a data path"):
        RunConfig(dataset="idx").validate()


@pytest.mark.parametrize("changes,field,words", [
    (dict(optimizer="nesterov", momentum=0.0), "momentum", "nesterov needs momentum > 0"),
    (dict(bn=True, batch_size=1), "batch_size", "batch norm needs batch_size >= 2"),
    (dict(bn=True, subset=1), "subset", "batch norm needs at least 2"),
])
def test_combinations_torch_would_reject_are_named(changes, field, words):
    problems = RunConfig(**changes).problems()
    assert words in problems[field]


def test_limits_name_the_value_as_given_and_epochs_are_limited():
    assert RunConfig(steps=100_000_001).problems()["steps"] == "steps must be <= 1e+08 (got 100000001)"
    assert "epochs must be <= 1e+06" in RunConfig(epochs=1e9).problems()["epochs"]
    # a cosine floor above the rate is not an error (the rate may be lowered below it mid-run): capped
    assert "min_lr" not in RunConfig(schedule="cosine", lr=1e-3, min_lr=0.1).problems()


def test_every_setting_is_declared_once_and_makes_a_flag(capsys):
    from engine.cli import parse
    settings = RunConfig.settings()
    assert list(settings) == RunConfig.keys()
    with pytest.raises(SystemExit):
        parse(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())    # argparse wraps lines
    for name, s in settings.items():
        assert f"--{name.replace('_', '-')}" in shown and " ".join(s.help.split()[:3]) in shown, name
    assert "units per hidden layer (1 … 8,192 units)" in shown
    args = parse(["train", "--depth", "3", "--no-bn", "--init", "xavier", "--data-path", "d.csv"])
    assert (args.depth, args.bn, args.init, args.data_path) == (3, False, "xavier", "d.csv")
    assert not hasattr(args, "width")               # only flags given override the file


def test_the_declared_ranges_are_the_validation_rules():
    s = RunConfig.settings()["depth"]
    assert (s.lo, s.hi, s.range_text()) == (1, 100, "1 … 100")
    assert RunConfig(depth=101).problems()["depth"] == "depth must be <= 100 (got 101)"


def test_every_finite_positive_rate_is_accepted_and_a_huge_one_is_warned_about():
    cfg = RunConfig(lr=1e6, init_std=1e300).validate()
    assert set(cfg.warnings()) == {"lr", "init_std"}
    assert cfg.warnings()["lr"].startswith("lr 1e6 is far above the usual range")
    finding = next(f for f in cfg.warning_findings() if f["code"] == "unusual_lr")
    assert finding["severity"] == "warning" and finding["message"] == cfg.warnings()["lr"]
    assert RunConfig(lr=10.0).warnings() == {}
    assert "lr must be finite" in RunConfig(lr=float("inf")).problems()["lr"]
