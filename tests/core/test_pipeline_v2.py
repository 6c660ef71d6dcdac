"""Schema 2 pipelines: several tasks and grounders, one encode; components built once; the stream contract."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import Field

import discover_core as dc
from discover_core import build as builder
from discover_core.bitstream import Stream
from discover_core.config import load_config, resolve
from discover_core.errors import ConfigError, PluginBug, PluginError, StreamError, WeightsError
from discover_core.interfaces import PATH_OPTION, Decoded, Latent, normalize_label
from discover_core.pipeline import decode, pipeline_from_dict
from discover_core.plugins import Registry

BUILT: list[str] = []  # names of components as they are constructed


class Counted:
    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        BUILT.append(type(self).name)


class AnimalGrounder(Counted, dc.Grounder):
    """Finds 'cat' and 'dog' at fixed places (a fake with a closed vocabulary)."""

    name = "animal-finder"
    seen: list[list[str]] = []

    @classmethod
    def vocabulary(cls, options, context):
        return frozenset({"cat", "dog"})

    def ground(self, image, labels, meta):
        AnimalGrounder.seen.append(list(labels))
        where = {"cat": (4.0, 4.0, 20.0, 20.0), "dog": (12.0, 10.0, 30.0, 22.0)}
        return [dc.Region(where[normalize_label(lab)], lab.upper(), 0.9) for lab in labels]  # any case comes back


class PersonGrounder(Counted, dc.Grounder):
    """Finds a 'person' (closed vocabulary)."""

    name = "person-finder"
    seen: list[list[str]] = []

    @classmethod
    def vocabulary(cls, options, context):
        return frozenset({"person"})

    def ground(self, image, labels, meta):
        PersonGrounder.seen.append(list(labels))
        return [dc.Region((40.0, 26.0, 60.0, 44.0), labels[0], 0.8)]


class BadGrounder(dc.Grounder):
    """Returns whatever its option says (to test the pipeline's checks)."""

    name = "bad-grounder"

    class Options(dc.Options):
        mode: str = Field("outside", description="what goes wrong")

    def ground(self, image, labels, meta):
        h, w = image.shape[:2]
        return {
            "outside": [dc.Region((0.0, 0.0, w + 10.0, 5.0), labels[0])],
            "nan": [dc.Region((0.0, float("nan"), 4.0, 5.0), labels[0])],
            "score": [dc.Region((0.0, 0.0, 4.0, 5.0), labels[0], 1.5)],
            "label": [dc.Region((0.0, 0.0, 4.0, 5.0), "not-a-candidate")],
            "crash": None,
        }[self.options.mode] or [][5]


class Weighted(Counted, dc.EntropyModel):
    """roi-image-like codec whose 'weights' are a file (to test fingerprints and format versions)."""

    name = "weighted"
    format_version = 3
    reads_format_versions = (2, 3)
    decoder_options = ("level",)

    class Options(dc.Options):
        level: int = Field(1, description="a decoder option")
        weights: str = Field("w.bin", description="weights file", json_schema_extra=PATH_OPTION)

    def weights_fingerprint(self):
        from hashlib import sha256

        return "sha256:" + sha256(self.context.resolve(self.options.weights).read_bytes()).hexdigest()

    def encode(self, image, regions):
        return dc.Encoded([dc.Chunk("side", "mean", bytes(image.mean(axis=(0, 1)).astype(np.uint8)))])

    def decode(self, size, params, chunks, format_version):
        Weighted.versions.append(format_version)
        return Decoded(size=size, coarse=np.frombuffer(chunks[0].payload, np.uint8).reshape(1, 1, 3).copy())

    versions: list[int] = []


class LatentModel(dc.EntropyModel):
    """Claims to produce an SD latent (to test pairing checks)."""

    name = "latent-model"
    produces = "latent"
    latent_space = "sd-vae"


class Plugin:
    @dc.hookimpl
    def register_grounders(self, register):
        for cls in (AnimalGrounder, PersonGrounder, BadGrounder):
            register(cls)

    @dc.hookimpl
    def register_entropy_models(self, register):
        register(Weighted)
        register(LatentModel)


@pytest.fixture
def registry():
    reg = Registry().load_entry_points()
    reg.add_plugin(Plugin(), name="fakes", distribution="fake-dist", version="9.9")
    builder.clear()
    BUILT.clear()
    AnimalGrounder.seen.clear()
    PersonGrounder.seen.clear()
    yield reg
    builder.clear()


def two_tasks(**entropy_options) -> dict:
    return {
        "schema_version": 2,
        "tasks": [
            {"name": "pets", "description": "pets", "label_source": {"plugin": "static",
                                                                      "options": {"labels": ["Cat", "dog", "bird"]}}},
            {"name": "people", "label_source": {"plugin": "static", "options": {"labels": ["person", "cat"]}}},
        ],
        "grounders": [{"plugin": "animal-finder"}, {"plugin": "person-finder"}],
        "entropy_model": {"plugin": "roi-image", "options": {"codec": "jpeg", "align": 4, **entropy_options}},
        "composer": {"plugin": "paste"},
    }


def test_one_encode_serves_every_task(registry, image):
    p = pipeline_from_dict(two_tasks(), registry=registry)
    stream = p.encode(image)
    # Each grounder got only the labels it can produce, once per image.
    assert AnimalGrounder.seen == [["Cat", "dog"]] and PersonGrounder.seen == [["person"]]
    content = {c.name: c for c in stream.chunks if c.kind == "content" and c.labels}
    by_labels = {c.labels: set(c.tasks) for c in content.values()}
    assert by_labels[("Cat", "dog")] == {"pets", "people"}  # 'cat' is a label of both tasks
    assert by_labels[("person",)] == {"people"}
    assert stream.header.tasks == ["people", "pets"]
    pets, people = stream.extract(task="pets"), stream.extract(task="people")
    assert {c.labels for c in pets.chunks if c.kind == "content"} == {("Cat", "dog")}
    assert {c.labels for c in people.chunks if c.kind == "content"} == {("Cat", "dog"), ("person",)}
    # A part names only what it holds.
    assert pets.header.labels == ["Cat", "dog"] and pets.header.tasks == ["people", "pets"]
    assert "person" not in pets.header.labels
    for part in (pets, people):
        assert p.decode(part).shape == image.shape


def test_label_matching_ignores_case_and_spaces(registry, image):
    p = pipeline_from_dict(two_tasks(), registry=registry)
    stream = p.encode(image)
    part = stream.extract(labels=["  CAT "])
    assert [c.labels for c in part.chunks if c.kind == "content"] == [("Cat", "dog")]


def test_grounders_without_wanted_labels_are_not_run(registry, image):
    data = two_tasks()
    data["tasks"] = data["tasks"][:1]
    p = pipeline_from_dict(data, registry=registry)
    p.encode(image)
    assert PersonGrounder.seen == [] and AnimalGrounder.seen == [["Cat", "dog"]]


def test_schema_1_is_migrated(make_v1_dict, make_dict, tmp_path):
    v1 = resolve(make_v1_dict(codec="webp"), "v1.yaml")
    v2 = resolve(make_dict(codec="webp"), "v2.yaml")
    assert v1.source_schema == 1 and v2.source_schema == 2
    assert v1.config == v2.config
    bad = make_v1_dict(region_quality=0)
    bad["grounder"]["options"]["bogus"] = 1
    with pytest.raises(ConfigError) as exc:
        resolve(bad, "v1.yaml")
    assert set(dict(exc.value.problems)) == {"entropy_model.options.region_quality", "grounder.options.bogus"}


@pytest.mark.parametrize("mode, words", [("outside", "outside the 64x48 image"), ("nan", "four finite numbers"),
                                         ("score", "scores are in [0, 1]"),
                                         ("label", "not one of the candidate labels"), ("crash", "IndexError")])
def test_grounder_output_is_checked_and_a_bug_is_shown_as_a_bug(registry, image, mode, words):
    data = two_tasks()
    data["grounders"] = [{"plugin": "bad-grounder", "options": {"mode": mode}}]
    p = pipeline_from_dict(data, registry=registry)
    with pytest.raises(PluginBug) as exc:
        p.ground(image)
    assert words in exc.value.message
    assert "grounder 'bad-grounder' (fake-dist 9.9)" in exc.value.message
    assert "report it" in exc.value.hint and "fake-dist" in exc.value.hint


def test_components_are_built_once_per_process(registry, image):
    a = pipeline_from_dict(two_tasks(), registry=registry)
    b = pipeline_from_dict(two_tasks(), registry=registry)
    assert a.grounders[0] is b.grounders[0] and a.entropy_model is b.entropy_model
    v = a.variant(entropy_model={"region_quality": 20})
    assert v.grounders[0] is a.grounders[0] and v.composer is a.composer
    assert v.entropy_model is not a.entropy_model and v.entropy_model.options.region_quality == 20
    assert BUILT.count("animal-finder") == 1


def test_a_failed_build_is_not_kept_and_the_cache_is_bounded(registry, make_dict, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = make_dict()
    boxes = tmp_path / "boxes.json"
    data["grounders"][0]["options"]["file"] = "boxes.json"
    with pytest.raises(dc.DiscoverError, match="box file not found"):
        pipeline_from_dict(data, registry=registry).build_all()
    boxes.write_text('{"x.png": []}')  # the missing file appears: asking again builds it
    built = pipeline_from_dict(data, registry=registry).grounders[0]
    assert pipeline_from_dict(data, registry=registry).grounders[0] is built  # then it is shared
    monkeypatch.setenv("DISCOVER_BUILD_CACHE", "1")
    pipeline_from_dict(data, registry=registry).entropy_model  # another component pushes it out
    assert pipeline_from_dict(data, registry=registry).grounders[0] is not built


def test_variant_errors_are_config_errors(make_pipeline):
    p = make_pipeline()
    with pytest.raises(ConfigError, match="no such slot"):
        p.variant(entropy_modl={"codec": "webp"})
    with pytest.raises(ConfigError) as exc:
        p.variant(entropy_model={"region_quality": 0})
    assert "entropy_model.options.region_quality" in dict(exc.value.problems)


def weighted_pipeline(tmp_path: Path, registry, level: int = 1):
    (tmp_path / "w.bin").write_bytes(b"weights one")
    data = two_tasks()
    data["entropy_model"] = {"plugin": "weighted", "options": {"level": level}}
    return pipeline_from_dict(data, registry=registry, base_dir=tmp_path)


def test_stream_records_provider_format_version_options_and_weights(tmp_path, registry, image):
    p = weighted_pipeline(tmp_path, registry)
    stream = p.encode(image, regions=[])
    rec = stream.header.entropy_model
    assert (rec.plugin, rec.provider, rec.distribution, rec.version, rec.format_version) == \
        ("weighted", "fakes", "fake-dist", "9.9", 3)
    assert rec.options == {}  # decoder options that differ from the defaults only; never a path
    assert weighted_pipeline(tmp_path, registry, level=2).encode(image, regions=[]).header.entropy_model.options \
        == {"level": 2}
    assert rec.weights.startswith("sha256:") and len(rec.weights) == 71
    Weighted.versions.clear()
    assert p.decode(stream.to_bytes()).shape == image.shape
    assert Weighted.versions == [3]  # decode is told the version that wrote the stream


def test_other_weights_are_refused(tmp_path, registry, image):
    p = weighted_pipeline(tmp_path, registry)
    data = p.encode(image, regions=[]).to_bytes()
    (tmp_path / "w.bin").write_bytes(b"weights two")
    builder.clear()
    with pytest.raises(WeightsError) as exc:
        weighted_pipeline_keep(tmp_path, registry).decode(data)
    assert exc.value.message.count("sha256:") == 2


def weighted_pipeline_keep(tmp_path, registry):
    data = two_tasks()
    data["entropy_model"] = {"plugin": "weighted", "options": {}}
    return pipeline_from_dict(data, registry=registry, base_dir=tmp_path)


def rewrite_record(data: bytes, slot: str, **changes) -> bytes:
    stream = Stream.from_bytes(data)
    rec = getattr(stream.header, slot).model_copy(update=changes)
    return Stream(stream.header.model_copy(update={slot: rec}), stream.chunks).to_bytes()


def test_unreadable_format_versions_are_refused(tmp_path, registry, image):
    p = weighted_pipeline(tmp_path, registry)
    data = p.encode(image, regions=[]).to_bytes()
    assert p.decode(rewrite_record(data, "entropy_model", format_version=2)).shape == image.shape
    with pytest.raises(StreamError) as exc:
        p.decode(rewrite_record(data, "entropy_model", format_version=4))
    assert "wrote format 4" in exc.value.message and "reads formats 2-3" in exc.value.message
    assert "fake-dist==9.9" in exc.value.hint


def test_a_stream_whose_plugin_is_missing_names_the_distribution(jpeg_stream):
    data = rewrite_record(jpeg_stream.to_bytes(), "entropy_model", plugin="saliency-codec", provider="sal",
                          distribution="discover-saliency", version="2.0")
    with pytest.raises(PluginError) as exc:
        decode(data)
    assert "discover-saliency 2.0" in exc.value.message and exc.value.hint == "pip install 'discover-saliency'"


def test_a_stream_may_not_name_a_file(tmp_path, registry, image):
    p = weighted_pipeline(tmp_path, registry)
    stream = p.encode(image, regions=[])
    rec = stream.header.entropy_model
    crafted = Stream(stream.header.model_copy(update={"entropy_model": rec.model_copy(
        update={"options": {"level": 1, "weights": "/etc/passwd"}})}), stream.chunks)
    with pytest.raises(StreamError, match="may never name a file"):
        p.decode(crafted.to_bytes())


def test_decode_time_composer_options(jpeg_stream, image):
    data = jpeg_stream.to_bytes()
    recorded = decode(data)
    assert Stream.from_bytes(data).header.composer.options == {}  # all the defaults: nothing recorded
    part = jpeg_stream.extract(task="detection")
    nearest = decode(part, composer_options={"upsample": "nearest"})
    assert not np.array_equal(nearest, decode(part))
    assert decode(data, composer="paste", composer_options={"upsample": "bicubic"}).tobytes() == recorded.tobytes()
    with pytest.raises(ConfigError) as exc:
        decode(data, composer_options={"feathr": 3})
    assert "did you mean 'feather'" in str(exc.value) or "feathr" in str(exc.value)


def test_composer_sees_tasks_and_labels_that_arrived(registry, image):
    p = pipeline_from_dict(two_tasks(), registry=registry)
    stream = p.encode(image)
    decoded = p.decode_content(stream.extract(task="pets"))
    assert set(decoded.tasks) == {"people", "pets"} and decoded.labels == ("Cat", "dog")
    assert decoded.representation == "pixels"


def test_validate_checks_pairing_and_label_reach(registry, tmp_path):
    data = two_tasks()
    data["entropy_model"] = {"plugin": "latent-model"}
    with pytest.raises(ConfigError) as exc:
        resolve(data, "p.yaml", registry=registry)
    assert "produces 'latent' in latent space 'sd-vae'" in dict(exc.value.problems)["composer.plugin"]
    resolved = resolve(two_tasks(), "p.yaml", registry=registry)
    warnings = dict(resolved.warnings)
    assert "bird" in warnings["tasks[0].label_source"] and "tasks[1].label_source" not in warnings


def test_secrets_and_option_typos_in_pipeline_files(make_dict):
    data2 = copy.deepcopy(make_dict())
    data2["entropy_model"]["options"]["region_qualty"] = 3
    with pytest.raises(ConfigError) as exc:
        resolve(data2, "p.yaml")
    assert "did you mean 'region_quality'?" in dict(exc.value.problems)["entropy_model.options.region_qualty"]
    data3 = make_dict()
    data3["composer"]["options"]["api_key"] = "abc123"
    with pytest.raises(ConfigError) as exc:
        resolve(data3, "p.yaml")
    assert "secrets never go in a pipeline file" in dict(exc.value.problems)["composer.options.api_key"]
    data4 = make_dict()
    data4["grounders"][0]["options"]["file"] = "sk-abcdefghijklmnopqrstuvwxyz0123"
    with pytest.raises(ConfigError) as exc:
        resolve(data4, "p.yaml")
    assert "looks like a secret" in dict(exc.value.problems)["grounders[0].options.file"]
    assert "sk-abc" not in str(exc.value)  # the value itself is never repeated


def test_context_secret_names_the_variable_never_a_value(monkeypatch):
    monkeypatch.delenv("DISCOVER_TEST_KEY", raising=False)
    with pytest.raises(dc.DiscoverError) as exc:
        dc.Context.secret("DISCOVER_TEST_KEY")
    assert "DISCOVER_TEST_KEY" in exc.value.message
    monkeypatch.setenv("DISCOVER_TEST_KEY", "s3cr3t")
    assert dc.Context.secret("DISCOVER_TEST_KEY") == "s3cr3t"


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path / "c"))
    ctx = dc.Context()
    assert ctx.cache_dir == tmp_path / "c"
    assert ctx.cache("labels").is_dir()


def test_latent_content_type():
    lat = Latent(values=np.zeros((4, 3, 5), np.float32), stride=8, arrived=np.ones((3, 5), bool), space="sd-vae")
    d = Decoded(size=(40, 24), representation="latent", latent=lat)
    assert d.latent.channels == 4 and d.coarse is None and d.missing is None


def test_examples_validate_without_warnings():
    root = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
    for path in sorted(root.glob("*.yaml")):
        resolved = load_config(path)
        assert resolved.source_schema == 2, path
        assert resolved.warnings == [], (path, resolved.warnings)
        assert yaml.safe_load(path.read_text())["schema_version"] == 2
