"""The reports as a reader meets them: opened in headless Chromium (Debian's ``chromium``, started here)."""

import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from analysis import browser, report


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory) -> Path:
    """Three real notebooks in quick mode (02 has formulas), with their index: a small report in seconds."""
    root = tmp_path_factory.mktemp("quick")
    config = root / "config.yml"
    config.write_text("notebooks: [01_data_quality, 02_mixed_effects, teaching/molloy2014]\nquick: true\n")
    runs = report.run_reports(config, output=root / "reports")
    assert [run.ok for run in runs] == [True, True, True], [run.error for run in runs]
    return root / "reports"


def test_every_page_opens_without_broken_links_or_images(quick_reports):
    check = browser.check_reports(quick_reports)
    assert check.ok, check.problems
    assert check.pages == ["01_data_quality.html", "02_mixed_effects.html", "index.html", "teaching/molloy2014.html"]
    # the index links each report, its notebook, its thumbnail's report, results.json; pages link back
    assert check.links >= 14 and check.images >= 6
    assert not (quick_reports / browser.SCREENSHOTS).exists()


def test_formulas_are_mathml_that_the_browser_lays_out_without_loading_anything(quick_reports):
    page = quick_reports / "02_mixed_effects.html"
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", page.read_text())
    with browser.Chromium() as chromium:
        chromium.open(page.as_uri())
        sizes = chromium.evaluate("Array.from(document.querySelectorAll('math'))"
                                  ".map(m => [m.getBoundingClientRect().width, m.getBoundingClientRect().height])")
        requests = chromium.requests()
    assert requests[0] == page.as_uri() and {url.split(":")[0] for url in requests} == {"file", "data"}
    assert len(sizes) >= 3 and all(width > 0 and height > 0 for width, height in sizes)


def test_external_requests_raw_latex_and_stderr_boxes_fail(tmp_path):
    warning = ("/work/.venv/lib/python3.11/site-packages/arviz/stats/diagnostics.py:596: RuntimeWarning: "
               "invalid value encountered in scalar divide")
    pages = {
        "cdn.html": '<script src="https://cdn.example.org/require.js"></script><p>a page</p>',
        "latex.html": "<p>The slope $\\beta_1$ and $x$ are raw; from $5 to $10 is money.</p><pre><code>hidden</code></pre>",
        "stderr.html": '<div class="jp-OutputArea-output" data-mime-type="application/vnd.jupyter.stderr"><pre>'
                       f"{warning}\n  (between_chain_variance)</pre></div>",
        "fine.html": '<p>Costs from $5 to $10; <math><mi>x</mi></math>.</p><div style="display: none">$y$</div>'
                     '<div data-mime-type="application/vnd.jupyter.stderr" style="display: none">hidden</div>',
    }
    links = "".join(f'<a href="{name}">{name}</a>' for name in pages)
    (tmp_path / "index.html").write_text(f"<!DOCTYPE html><html><body>{links}</body></html>")
    for name, body in pages.items():
        (tmp_path / name).write_text(f'<!DOCTYPE html><html><body>{body}<a href="index.html">back</a></body></html>')
    check = browser.check_reports(tmp_path)
    assert sorted(map(str, check.problems)) == [
        "cdn.html: external request https://cdn.example.org/require.js",
        "latex.html: raw LaTeX $\\beta_1$",
        "latex.html: raw LaTeX $x$",
        f"stderr.html: stderr output {warning[:browser.SHOWN_CHARACTERS - 3]}...",  # the first line, shortened
    ]
    assert sorted(check.screenshots) == [f"{browser.SCREENSHOTS}/{name}.png" for name in ["cdn.html", "latex.html",
                                                                                          "stderr.html"]]
    assert browser.main([str(tmp_path)]) == 1


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
