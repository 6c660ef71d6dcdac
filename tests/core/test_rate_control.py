"""Closed-loop machine rate control: the lowest ladder quality at which the pipeline's own heads still agree."""

from __future__ import annotations

from pathlib import Path

import pytest

import discover_core as dc
from discover_core import cli
from discover_core.errors import ConfigError
from discover_core.ratecontrol import encode_at_agreement

pytest.importorskip("timm", reason="the default pipeline needs the extra 'vision'")
DEFAULT = Path(dc.__file__).parent / "data" / "default.yaml"


@pytest.fixture(scope="module")
def chelsea():
    from discover_core.photos import demo_photos

    return demo_photos(["chelsea"])[0].image


def test_the_chosen_quality_agrees_and_every_cheaper_one_tried_did_not(chelsea):
    pipeline = dc.load_pipeline(DEFAULT)
    ladder = [5, 10, 20, 40, 80]
    choice = encode_at_agreement(pipeline, chelsea, ladder=ladder)
    assert choice.agreed and choice.quality in ladder
    assert choice.tried[choice.quality]["classification"] == 1.0
    assert all(a["classification"] < 1.0 for q, a in choice.tried.items() if q < choice.quality)
    head = pipeline.heads["classification"][0]
    part = choice.stream.extract(task="classification")
    again = head.score([head.predict(pipeline.decode(part))], [head.predict(chelsea)])["agreement"]
    assert again == 1.0
    top = pipeline.variant(entropy_model={"region_quality": 80}).encode(chelsea)
    assert len(part.to_bytes()) <= len(top.extract(task="classification").to_bytes())


def test_rate_control_needs_a_head_and_a_knob(chelsea):
    pipeline = dc.load_pipeline(DEFAULT)
    with pytest.raises(ConfigError, match="no option 'loudness'"):
        encode_at_agreement(pipeline, chelsea, knob="loudness")
    with pytest.raises(ConfigError, match="at least one quality"):
        encode_at_agreement(pipeline, chelsea, ladder=[])


def test_encode_rate_control_on_the_command_line(chelsea, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(chelsea).save(tmp_path / "chelsea.png")
    code = cli.main(["encode", str(tmp_path / "chelsea.png"), "-c", str(DEFAULT), "-o", str(tmp_path / "s") + "/",
                     "--rate-control", "agreement", "--ladder", "10,40,80"])
    assert code == 0, capsys.readouterr()
    assert (tmp_path / "s" / "chelsea.dscv").is_file()
    assert cli.main(["encode", str(tmp_path / "chelsea.png"), "-c", str(DEFAULT), "-o", str(tmp_path / "t"),
                     "--rate-control", "agreement", "--ladder", "ten"]) == 2
