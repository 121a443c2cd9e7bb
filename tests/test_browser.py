"""The reports as a reader meets them: opened in headless Chromium (Debian's ``chromium``, started here)."""

import shutil
from pathlib import Path

import pytest
from PIL import Image

from analysis import browser, report


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory) -> Path:
    """Two real notebooks in quick mode, with their index: a small report in seconds."""
    root = tmp_path_factory.mktemp("quick")
    config = root / "config.yml"
    config.write_text("notebooks: [01_data_quality, teaching/molloy2014]\nquick: true\nvariants: {}\nsweeps: {}\n")
    runs = report.run_reports(config, output=root / "reports")
    assert [run.ok for run in runs] == [True, True], [run.error for run in runs]
    return root / "reports"


def test_every_page_opens_without_broken_links_or_images(quick_reports):
    check = browser.check_reports(quick_reports)
    assert check.ok, check.problems
    assert check.pages == ["01_data_quality.html", "index.html", "teaching/molloy2014.html"]
    # the index links each report, its notebook, its thumbnail's report, results.json; pages link back
    assert check.links >= 10 and check.images >= 4
    assert not (quick_reports / browser.SCREENSHOTS).exists()


def test_code_is_hidden_until_the_reader_asks_for_it(quick_reports):
    code = "getComputedStyle(document.querySelector('.jp-CodeCell .jp-Cell-inputWrapper')).display"
    with browser.Chromium() as chromium:
        chromium.open((quick_reports / "01_data_quality.html").as_uri())
        assert chromium.evaluate(code) == "none"
        chromium.evaluate("document.getElementById('toggle-code').click()")
        assert chromium.evaluate(code) != "none"
        assert chromium.evaluate("document.getElementById('toggle-code').textContent") == "Hide code"


def test_broken_links_and_images_fail_with_screenshots(quick_reports, tmp_path):
    broken = tmp_path / "reports"
    shutil.copytree(quick_reports, broken)
    (broken / "thumbnails" / "01_data_quality.png").unlink()
    (broken / "teaching" / "molloy2014.html").unlink()
    check = browser.check_reports(broken)
    assert sorted(map(str, check.problems)) == [
        "index.html: broken image thumbnails/01_data_quality.png",
        "index.html: broken link teaching/molloy2014.html",
        "index.html: broken link teaching/molloy2014.html",  # the name and the thumbnail both link it
    ]
    assert check.screenshots == [f"{browser.SCREENSHOTS}/index.html.png"]
    with Image.open(broken / check.screenshots[0]) as shot:
        assert shot.width == 1280 and shot.height >= 400


def test_command_line_exit_codes(quick_reports, tmp_path, capsys):
    assert browser.main([str(quick_reports)]) == 0
    assert "no problems" in capsys.readouterr().out
    (tmp_path / "index.html").write_text('<!DOCTYPE html><html><body><a href="gone.html">gone</a></body></html>')
    assert browser.main([str(tmp_path)]) == 1
    assert "index.html: broken link gone.html" in capsys.readouterr().out
    assert browser.main([str(tmp_path / "nowhere")]) == 2
    assert "no index.html" in capsys.readouterr().err
    assert browser.main([str(quick_reports), "--chromium", "no-such-browser"]) == 2
    assert "apt-get install chromium" in capsys.readouterr().err
