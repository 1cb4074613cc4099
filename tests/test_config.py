import pytest

from eigenfast.config import ConfigError, RunConfig, dump_config, load_config


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_yaml_and_toml_load_the_same_config(tmp_path):
    y = write(tmp_path, "a.yaml", "domain:\n  name: airline\nrollout:\n  samples: 4\n  temperature: 0.7\n")
    t = write(tmp_path, "a.toml", '[domain]\nname = "airline"\n[rollout]\nsamples = 4\ntemperature = 0.7\n')
    assert load_config(y) == load_config(t)
    cfg = load_config(y)
    assert isinstance(cfg, RunConfig) and cfg.rollout.samples == 4 and cfg.rollout.max_steps == 200


def test_overrides_apply_in_order_and_parse_scalars(tmp_path):
    y = write(tmp_path, "a.yaml", "rollout:\n  samples: 4\n")
    cfg = load_config(y, ["rollout.samples=8", "rollout.temperature=0.5", "domain.tasks=[a, b]",
                          "rollout.samples=16"])
    assert cfg.rollout.samples == 16 and cfg.rollout.temperature == 0.5 and cfg.domain.tasks == ["a", "b"]


def test_relative_data_dir_resolves_against_the_config_file(tmp_path):
    y = write(tmp_path, "a.yaml", "domain:\n  data_dir: data/tau2\n")
    assert load_config(y).domain.data_dir == str((tmp_path / "data" / "tau2").resolve())


@pytest.mark.parametrize(
    "text, message",
    [
        ("rollout:\n  samples: many\n", r"a.yaml: rollout.samples: expected `int`, got `str`"),
        ("rollout:\n  samplez: 3\n", r"a.yaml: rollout.samplez: unknown key"),
        ("colour: red\n", r"a.yaml: colour: unknown key"),
        ("domain:\n  name: chess\n", r"a.yaml: domain.name: invalid enum value 'chess'"),
        ("rollout: [1\n", r"a.yaml: invalid YAML at line 2"),
        ("- 1\n- 2\n", r"a.yaml: the top level must be a mapping"),
    ],
)
def test_errors_are_one_line_naming_file_and_field(tmp_path, text, message):
    y = write(tmp_path, "a.yaml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(y)
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"override 'samples': expected key.sub=value"):
        load_config(None, ["samples"])
    with pytest.raises(ConfigError, match=r"overrides rollout.samples=x\): rollout.samples: expected `int`"):
        load_config(None, ["rollout.samples=x"])
    with pytest.raises(ConfigError, match=r"b.ini: unknown config format"):
        load_config(write(tmp_path, "b.ini", "x=1"))
    with pytest.raises(ConfigError, match=r"c.toml: invalid TOML"):
        load_config(write(tmp_path, "c.toml", "[x\n"))


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))
    assert configs, "configs/ ships no recipes"
    for path in configs:
        assert dump_config(load_config(path))
