"""The README's key figures: copied from the run's figures into docs/figures/, and checked like the results block."""

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo


def _png(path, *, size=(20, 10), value=200, patch=None, text=None):
    """A grey RGB image of ``size``; ``patch`` = (value, pixels): that value in the first pixels of the top row."""
    pixels = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    if patch is not None:
        patch_value, count = patch
        pixels[0, :count] = patch_value
    info = None
    if text is not None:  # other bytes, the same pixels
        info = PngInfo()
        info.add_text("Software", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, pnginfo=info)
    return path


def test_key_figures_are_the_first_pair_grid_ci_vs_n_and_the_forest_plot():
    from antithetic.workflow.readme import key_figures

    config = {"correlation": {"pairs": 7, "runs": {"m1": ["s1", "s2"], "m2": ["s3"]}}}
    assert key_figures(config) == {
        "pairs_grid.png": "figures/pairs/m1_s1_7_grid.png",
        "ci_vs_n.png": "figures/uq/ci_vs_n.png",
        "claims_forest.png": "figures/claims/forest.png",
    }


def test_image_difference_is_the_mean_absolute_rgb_difference(tmp_path):
    from antithetic.workflow.readme import image_difference

    base = _png(tmp_path / "a.png", value=200)
    # 5 of 200 pixels darker by 120 in all three channels: a mean of 5 * 120 / 200 = 3 (no uint8 wrap-around)
    darker = _png(tmp_path / "b.png", value=200, patch=(80, 5))
    assert image_difference(base, base) == 0
    assert image_difference(base, darker) == pytest.approx(3.0)
    assert image_difference(darker, base) == pytest.approx(3.0)
    Image.open(darker).convert("RGBA").save(tmp_path / "c.png")  # an alpha channel is not a difference
    assert image_difference(darker, tmp_path / "c.png") == 0 and image_difference(tmp_path / "c.png", darker) == 0
    assert image_difference(base, _png(tmp_path / "d.png", size=(20, 11))) is None


def test_figure_check_wants_equal_bytes_on_the_same_platform_and_a_small_difference_on_another(tmp_path):
    from antithetic.workflow.readme import FIGURE_TOLERANCE, RUN_FIX, check_figures

    run, copies = tmp_path / "figures", tmp_path / "docs" / "figures"
    figures = {"grid.png": run / "grid.png"}
    _png(copies / "grid.png")

    def check(*, same_platform, **source):
        _png(run / "grid.png", **source)
        return check_figures(figures, copies, same_platform=same_platform)

    assert check(same_platform=True) == [] and check(same_platform=False) == []
    # the same pixels in other bytes: a change on the same platform, nothing on another
    assert "differs from" in check(same_platform=True, text="another matplotlib")[0]
    assert check(same_platform=False, text="another matplotlib") == []
    # a few pixels rounded differently, darker or lighter: 10 of 200 pixels by 20, a mean of 1 (below the tolerance)
    assert FIGURE_TOLERANCE > 20 * 10 / 200
    assert check(same_platform=False, patch=(180, 10)) == [] and check(same_platform=False, patch=(220, 10)) == []
    assert check(same_platform=True, patch=(180, 10)) != []
    # another figure (above the tolerance), another size
    (problem,) = check(same_platform=False, patch=(0, 200))
    assert f"above {FIGURE_TOLERANCE}" in problem and "make readme" in problem
    (problem,) = check(same_platform=False, size=(21, 10))
    assert "differ in size" in problem
    # a missing copy or figure: named, with the fix
    (copies / "grid.png").unlink()
    (problem,) = check(same_platform=False)
    assert problem.startswith(str(copies / "grid.png")) and RUN_FIX in problem
    (run / "grid.png").unlink()
    (problem,) = check_figures(figures, copies, same_platform=True)
    assert problem.startswith(str(run / "grid.png")) and "missing" in problem and RUN_FIX in problem


def test_make_readme_copies_the_key_figures_and_make_check_checks_them(tmp_path, monkeypatch, capsys):
    import yaml

    from antithetic.workflow.readme import BEGIN, END, FIGURES_DIR, PLATFORM_PREFIX, key_figures
    from antithetic.workflow.readme import main as readme_main

    monkeypatch.chdir(tmp_path)
    config = {"correlation": {"pairs": 5, "runs": {"m": ["s"]}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "README.md").write_text(f"# t\n\n{BEGIN}\n{PLATFORM_PREFIX}CPU A.\n{END}\n")
    block = tmp_path / "README.results.md"
    block.write_text(f"{PLATFORM_PREFIX}CPU A.\n")
    args = ["README.md", str(block)]

    # before a run: the figures are missing, and the message says what to run
    assert readme_main(["figures", "check", *args]) == 1
    assert "make run && make readme" in capsys.readouterr().err
    for source in key_figures(config).values():
        _png(tmp_path / source)
    assert readme_main(["figures", "check", *args]) == 1  # not copied yet
    assert f"{FIGURES_DIR}/pairs_grid.png: missing" in capsys.readouterr().err
    assert readme_main(["figures", "write", *args]) == 0
    assert sorted(p.name for p in (tmp_path / FIGURES_DIR).iterdir()) == ["ci_vs_n.png", "claims_forest.png", "pairs_grid.png"]
    assert readme_main(["figures", "check", *args]) == 0
    # the run redraws the pair grid with a few other pixels: stale on the same platform, accepted on another
    _png(tmp_path / "figures/pairs/m_s_5_grid.png", patch=(180, 10))
    assert readme_main(["figures", "check", *args]) == 1
    block.write_text(f"{PLATFORM_PREFIX}CPU B.\n")
    assert readme_main(["figures", "check", *args]) == 0
    assert readme_main(["figures", "write", *args]) == 0
    block.write_text(f"{PLATFORM_PREFIX}CPU A.\n")
    assert readme_main(["figures", "check", *args]) == 0
    assert readme_main(["figures", "copy", *args]) == 2  # usage


def test_the_docs_state_the_tolerance_the_check_uses():
    from pathlib import Path

    from antithetic.workflow.readme import FIGURE_TOLERANCE

    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text().split())
    assert f"(0 to 255) of at most {FIGURE_TOLERANCE:g} (`FIGURE_TOLERANCE`" in text
