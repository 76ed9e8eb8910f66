"""Experiment configs are validated fully at load: types, ranges, unknown keys, one line each."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.models.pathnet import EvolutionConfig, PathNetConfig
from pathfer.study.experiments.config import ConfigError, config_from_dict, load_config

BASE = {
    "name": "c",
    "kind": "single",
    "target": {"corpus": "savee", "path": "/data/SAVEE"},
    "methods": ["cnn_scratch"],
}


def _load(tmp_path, text: str):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False) + text)
    return load_config(path)


@pytest.mark.parametrize(
    ("text", "check"),
    [
        # numbers written as strings are numbers (YAML 1.1 reads 1e-3 as a string)
        ("split: {k: '5'}\n", lambda c: c.split.k == 5),
        ("workers: '2'\n", lambda c: c.workers == 2),
        ("evolution: {lr: 1e-3}\n", lambda c: c.evolution.lr == 0.001),
        ("train: {lrs: ['3e-3', 0.001]}\n", lambda c: c.train.lrs == [0.003, 0.001]),
        # a single value where a list is expected is a list of one
        ("seeds: 1\n", lambda c: c.seeds == [1]),
        ("seeds: 0\n", lambda c: c.seeds == [0]),
        ("methods: cnn_scratch\n", lambda c: c.methods == ["cnn_scratch"]),
        ("train: {lrs: 0.01}\n", lambda c: c.train.lrs == [0.01]),
        # PathNet's sections are typed, and its input is the crop size
        ("pathnet: {layers: 3, channels: 8}\n", lambda c: c.pathnet.layers == 3),
        ("preparation: {size: 64}\n", lambda c: c.pathnet.input_size == 64),
        ("labels: [happy, Sad]\n", lambda c: c.labels == ["happiness", "sadness"]),
        # the source's evolution is evolution: with some keys changed, held in full
        ("evolution: {lr: 1e-3}\n", lambda c: c.source_evolution == c.evolution),
        (
            "evolution: {lr: 1e-3}\nsource_evolution: {generations: 80}\n",
            lambda c: (
                (c.source_evolution.generations, c.source_evolution.lr, c.evolution.generations)
                == (80, 0.001, EvolutionConfig().generations)
            ),
        ),
        # a source is a first task: it trains every layer whatever the target may train
        (
            "evolution: {train_layers: [3, 1]}\n",
            lambda c: (c.evolution.train_layers, c.source_evolution.train_layers) == ((1, 3), None),
        ),
    ],
)
def test_values_are_read_as_documented(tmp_path, text, check):
    assert check(_load(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("split: {k: five}\n", "split.k: should be a valid integer"),
        ("split: {k: 2.5}\n", "split.k: should be a valid integer, got 2.5"),
        ("workers: true\n", "workers: should be a valid integer, got True"),
        ("workers: 0\n", "workers: should be greater than or equal to 1, got 0"),
        ("seeds: -1\n", "seeds[0]: should be greater than or equal to 0, got -1"),
        ("seeds: [1, 1]\n", "seeds: lists 1 twice"),
        ("seeds: []\n", "seeds: should have at least 1 item"),
        ("train: {max_steps: -5}\n", "train.max_steps: should be greater than or equal to 1"),
        ("pathnet: {layers: 0}\n", "pathnet.layers: should be greater than or equal to 1, got 0"),
        ("pathnet: {kernel: 4}\n", "pathnet: kernel must be odd"),
        ("evolution: {fitness: test}\n", "evolution.fitness: should be 'val' or 'train'"),
        ("preparation: {equalize: 1}\n", "preparation.equalize: should be a valid boolean"),
        ("preparation: {detector: dlib}\n", "unknown face detector 'dlib'; allowed: haar"),
        ("labels: [anger, joyy]\n", "labels: unknown emotion 'joyy'; allowed: anger,"),
        ("methods: [cnn_scratch, magic]\n", "unknown method(s) magic; allowed: pathnet_transfer"),
        ("methods: [finetune]\n", "finetune need a source task; use kind: within or transfer"),
        ("pathnet: {input_size: 64}\n", "pathnet.input_size (64) differs from preparation.size"),
        ("max_folds: 0\n", "max_folds: should be greater than or equal to 1"),
        # a removed option is an unknown key (docs/tuning.md#removed-options says why)
        ("evolution: {finish_frozen: copy}\n", "finish_frozen: unknown key; allowed: population,"),
        ("evolution: {lr: .inf}\n", "evolution.lr: should be a finite number"),
        ("train: {lrs: [.nan]}\n", "train.lrs[0]: should be a finite number"),
        (
            "source_evolution: {generations: -1}\n",
            "source_evolution: generations: should be greater",
        ),
        ("source_evolution: 80\n", "source_evolution: must be a mapping of evolution: keys"),
        ("source_evolution: {generation: 3}\n", "generation: unknown key; allowed: population,"),
    ],
)
def test_bad_values_fail_at_load_in_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "exp.yaml") + ": ")
    assert message in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("text", "where", "allowed"),
    [
        ("seedz: [1]\n", "seedz", "name, kind, target"),
        ("pathnet: {modlues: 3}\n", "pathnet.modlues", "layers, modules, max_active"),
        ("evolution: {generation: 3}\n", "evolution.generation", "population, steps_per_path"),
        ("split: {folds: 3}\n", "split.folds", "kind, k, val_fraction"),
        ("train: {max_step: 3}\n", "train.max_step", "lrs, batch_size, max_steps"),
        ("preparation: {frame: 3}\n", "preparation.frame", "frames, sampling, every"),
        ("within: {fraction: 0.3}\n", "within.fraction", "by, a_fraction, a_classes"),
        ("target: {corpus: savee, pth: /x}\n", "target.pth", "corpus, path"),
    ],
)
def test_unknown_keys_anywhere_list_the_allowed_ones(tmp_path, text, where, allowed):
    with pytest.raises(ConfigError, match=re.escape(f"{where}: unknown key; allowed: {allowed}")):
        _load(tmp_path, text)  # a repeated key (target) replaces the first one


def test_every_problem_is_named_at_once(tmp_path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "pathnet: {layers: 0, modlues: 3}\nsplit: {k: 1}\n")
    msg = str(info.value)
    for part in ("pathnet.layers", "pathnet.modlues: unknown key", "split.k"):
        assert part in msg


def test_unreadable_config_files_are_named(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    for path, message in (
        (binary, "not a text file"),
        (listing, "must be a YAML mapping"),
        (broken, "not valid YAML"),
        (tmp_path, "is not a file"),
    ):
        with pytest.raises(ConfigError, match=message) as info:
            load_config(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pathnet: {layers: 0}\n", "pathnet.layers: should be greater than or equal to 1"),
        ("pathnet: {modlues: 3}\n", "pathnet.modlues: unknown key; allowed: layers"),
        (
            "preparation: {size: 8}\n",
            "preparation.size: 8 px is too small for pathnet's 4 layers pooled by 2; use at "
            "least 16 or at most 3 layers",
        ),
        (
            "methods: [cnn_scratch, pathnet_target]\ncrops: {pathnet_target: {size: 12}}\n",
            "crops.pathnet_target.size: 12 px is too small for pathnet's 4 layers",
        ),
    ],
)
def test_cli_fails_at_load_before_any_preparation(tmp_path, text, expected):
    cfg = {**BASE, "target": {"corpus": "savee", "path": str(tmp_path / "sav")}}
    cfg["cache"] = str(tmp_path / "cache")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg) + text)
    for args in (
        ["experiment", "run", str(path), "--out", str(tmp_path / "r")],
        ["train", str(path), "--method", "cnn_scratch", "-o", str(tmp_path / "m.safetensors")],
    ):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        assert expected in res.output and str(path) in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()


def test_resolved_config_round_trips_and_refuses_bad_assignments():
    cfg = config_from_dict({**BASE, "pathnet": {"layers": 3, "channels": [4, 8, 8]}})
    again = config_from_dict(cfg.to_dict())
    assert again == cfg and again.to_dict() == cfg.to_dict()
    assert cfg.to_dict()["pathnet"]["channels"] == [4, 8, 8]
    assert cfg.to_dict()["evolution"] == EvolutionConfig().as_dict()
    grown = config_from_dict({**BASE, "source_evolution": {"generations": 80}})
    assert config_from_dict(grown.to_dict()) == grown
    assert grown.to_dict()["source_evolution"] == {**EvolutionConfig().as_dict(), "generations": 80}
    with pytest.raises(ValueError, match="workers"):
        cfg.workers = 0


def test_pathnet_configs_validate_on_construction_and_replace():
    with pytest.raises(ValueError, match="layers"):
        PathNetConfig(layers="three")
    with pytest.raises(ValueError, match="modlues"):
        PathNetConfig(modlues=3)
    with pytest.raises(ValueError, match="lr"):
        dataclasses.replace(EvolutionConfig(), lr=0)
    assert PathNetConfig(layers="2", channels=[4, 4]).layers == 2
    assert EvolutionConfig.from_dict(EvolutionConfig().as_dict()) == EvolutionConfig()


def test_the_recipe_names_pathnets_settings_and_the_config_changes_some(tmp_path):
    from pathfer.models.pathnet.recipes import RECIPES, get_recipe

    plain = config_from_dict(BASE)
    assert plain.recipe == "default"
    assert plain.evolution == get_recipe("default").evolution_config()
    assert plain.source_evolution == plain.evolution
    paper = get_recipe("paper")
    cfg = _load(tmp_path, "recipe: paper\nevolution: {generations: 3}\n")
    assert cfg.evolution == paper.evolution_config(generations=3)
    assert cfg.pathnet == paper.pathnet_config(input_size=cfg.preparation.size)
    # source_evolution: only what differs for the source, over evolution:
    cfg = _load(
        tmp_path, "recipe: paper\nevolution: {generations: 3}\nsource_evolution: {lr: 0.01}\n"
    )
    assert cfg.source_evolution == paper.evolution_config(generations=3, lr=0.01)
    # the recorded config names the recipe and holds the settings in full; read again, the same
    recorded = cfg.to_dict()
    assert recorded["recipe"] == "paper" and recorded["evolution"]["population"] == 20
    assert config_from_dict(recorded).to_dict() == recorded
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "recipe: papr\n")
    msg = str(info.value)
    assert "recipe: unknown recipe 'papr'" in msg and "\n" not in msg
    assert all(name in msg for name in RECIPES)


def test_a_recipes_source_keys_sit_between_evolution_and_source_evolution(monkeypatch):
    from pathfer.models.pathnet import recipes

    base = recipes.get_recipe("default")
    fake = dataclasses.replace(base, name="src", source_evolution={"generations": 7, "lr": 0.02})
    monkeypatch.setitem(recipes.RECIPES, "src", fake)
    cfg = config_from_dict({**BASE, "recipe": "src", "source_evolution": {"lr": 0.5}})
    assert cfg.source_evolution.generations == 7 and cfg.source_evolution.lr == 0.5
    assert cfg.evolution == EvolutionConfig()


def test_the_crop_fields_share_the_crop_settings_ranges_and_defaults():
    from pathfer.data.faces import CropSettings

    cfg = config_from_dict(BASE)
    assert (cfg.preparation.size, cfg.preparation.margin) == (
        CropSettings.size,
        CropSettings.margin,
    )
    for section in ({"preparation": {"size": 4}}, {"crops": {"cnn_scratch": {"size": 1024}}}):
        with pytest.raises(ConfigError, match="size: should be"):
            config_from_dict({**BASE, **section})


def test_crop_sizes_a_pathnet_can_take():
    """Only PathNet methods are held to PathNet's size; a pool of none shrinks nothing."""
    ok = config_from_dict({**BASE, "crops": {"cnn_scratch": {"size": 12}}})
    assert ok.crops["cnn_scratch"].size == 12
    assert config_from_dict({**BASE, "preparation": {"size": 16}}).pathnet.input_size == 16
    unpooled = {**BASE, "preparation": {"size": 8}, "pathnet": {"pool": "none"}}
    assert config_from_dict(unpooled).pathnet.final_size == 8
    with pytest.raises(
        ConfigError, match="9 px is too small .* pooled by 3; use at least 81 or at most 2 layers$"
    ):
        config_from_dict({**BASE, "preparation": {"size": 9}, "pathnet": {"pool_size": 3}})
