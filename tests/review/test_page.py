"""What a reviewer sees, measured in the rendered page of headless Chromium, not in its HTML: the two answers side
by side at 1280 px and stacked at 390 px with nothing wider than the screen, line breaks kept, one unbreakable
string unable to squeeze the other answer, each Southeast-Asian script drawn with a font that has its glyphs
(the font Chromium actually used, from the DevTools protocol), and no console error (a blocked style is one).
Screenshots go to outputs/review-screenshots/ for a person to look at."""

from __future__ import annotations

import base64
import re

import pytest

from recipes.review.store import NewItem, Store
from tests.helpers.review_browser import SCREENSHOTS, Server, login

By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium not installed: pip install -e '.[test]'").By

UNBREAKABLE = "https://th.wikipedia.org/wiki/" + "%E0%B8%AA%E0%B8%87" * 13 + "x" * 26  # 260 characters, no break
ITEMS = {  # language: (prompt, a numbered list over three lines, the other answer)
    "th": (
        "แนะนำอาหารเช้าแบบไทยมาสามอย่าง",
        "1. โจ๊กหมูใส่ไข่\n2. ข้าวต้มกุ้ง\n3. ปาท่องโก๋กับน้ำเต้าหู้",
        f"ข้าวเหนียวหมูปิ้งเป็นอาหารเช้าที่นิยม ดูที่ {UNBREAKABLE}",
    ),
    "my": (
        "မုန့်ဟင်းခါး ဘယ်လိုချက်ရသလဲ",
        "၁။ ငါးကို ပြုတ်ပါ\n၂။ ဟင်းရည် ပြုလုပ်ပါ\n၃။ ဆန်ခေါက်ဆွဲနှင့် စားပါ",
        "မုန့်ဟင်းခါးသည် မြန်မာ့ အစားအစာ ဖြစ်သည်။",
    ),
    "km": (
        "តើបុណ្យចូលឆ្នាំខ្មែរគឺជាអ្វី?",
        "១. ថ្ងៃទីមួយ មហាសង្ក្រាន្ត\n២. ថ្ងៃទីពីរ វារៈវ័នបត\n៣. ថ្ងៃទីបី វារៈឡើងស័ក",
        "បុណ្យចូលឆ្នាំខ្មែរ ប្រារព្ធធ្វើនៅខែមេសា។",
    ),
    "lo": ("ບຸນປີໃໝ່ລາວແມ່ນຫຍັງ?", "1. ມື້ສັງຂານລ່ວງ\n2. ມື້ສັງຂານເນົາ\n3. ມື້ສັງຂານຂຶ້ນ", "ບຸນປີໃໝ່ລາວ ຈັດຂຶ້ນໃນເດືອນເມສາ."),
    "ta": ("பொங்கல் பண்டிகை என்றால் என்ன?", "1. போகி\n2. தைப் பொங்கல்\n3. மாட்டுப் பொங்கல்", "பொங்கல் தமிழர்களின் அறுவடைத் திருநாள்."),
    "zh": ("新加坡的国菜是什么？", "1. 海南鸡饭\n2. 辣椒螃蟹\n3. 叻沙", "新加坡没有官方国菜。"),
    "vi": (
        "Phở là gì?",
        "1. Bánh phở\n2. Nước dùng xương bò\n3. Thịt bò tái",
        "Phở là món ăn truyền thống của Việt Nam.",
    ),
}
# The families of Debian's font packages that tests/browser_env.sh installs, and Noto's, by script.
FONTS = {
    "th": {"Loma", "Noto Sans Thai"},
    "my": {"Padauk", "Noto Sans Myanmar"},
    "km": {"Khmer OS", "Khmer OS System", "Noto Sans Khmer"},
    "lo": {"Phetsarath OT", "Noto Sans Lao"},
    "ta": {"Lohit Tamil", "Noto Sans Tamil"},
    "zh": {"WenQuanYi Micro Hei", "Noto Sans CJK SC"},
}


@pytest.fixture(scope="module")
def page_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-page")
    store = Store(f"sqlite:///{folder / 'review.db'}")
    store.set_comparison("page-0.1.0", "page-0.2.0")
    store.add_items([NewItem(lang, f"{lang}-1", prompt, a, b) for lang, (prompt, a, b) in ITEMS.items()])
    token = store.add_reviewer("all", list(ITEMS))
    admin = store.add_reviewer("admin", [], admin=True)
    server = Server(store.engine.url.render_as_string(), folder / "server.log")
    server.start()
    yield server, store, {"all": token, "admin": admin}
    server.kill()


@pytest.fixture
def reviewer(page_app, browser):
    """The browser logged in as the reviewer of every language, at 1280 x 900 CSS pixels; the console log read
    empty before the test."""
    server, store, tokens = page_app
    login(browser, server, tokens["all"])
    viewport(browser, 1280, 900)
    browser.get_log("browser")
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def open_item(driver, page_app, language: str) -> None:
    server, store, _ = page_app
    with store.sessions() as s:
        from recipes.review.store import Item

        item_id = s.query(Item.id).filter(Item.language == language).scalar()
    driver.get(f"{server.url}/review?item={item_id}")
    assert driver.find_element(By.ID, "prompt").text == ITEMS[language][0]


def rect(driver, css: str) -> dict:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, "
        "width: r.width, height: r.height};",
        css,
    )


def style(driver, css: str, prop: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]];", css, prop
    )


def overflow(driver) -> list[str]:
    """Elements reaching past the right edge of the viewport, text running out of its box, and the page's own
    horizontal scroll."""
    return driver.execute_script("""
        const page = document.documentElement, width = page.clientWidth, wide = [];
        if (page.scrollWidth > width) wide.push('page scrollWidth ' + page.scrollWidth);
        for (const e of document.querySelectorAll('body *')) {
          const r = e.getBoundingClientRect();
          if (r.width && r.right > width + 0.5) wide.push(e.tagName + '#' + e.id + ' right ' + r.right);
          if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX == 'visible')
            wide.push(e.tagName + '#' + e.id + ' text ' + e.scrollWidth + ' in ' + e.clientWidth);
        }
        return wide;""")


def screenshot(driver, name: str) -> bytes:
    """The whole page as PNG, saved for a person to look at."""
    png = base64.b64decode(
        driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(png)
    return png


def lines(driver, css: str) -> int:
    """Rendered lines of an element's text: its height over its line height."""
    height = rect(driver, css)["height"] - sum(
        float(style(driver, css, p)[:-2])
        for p in ("paddingTop", "paddingBottom", "borderTopWidth", "borderBottomWidth")
    )
    return round(height / float(style(driver, css, "lineHeight")[:-2]))


def console_problems(driver) -> list[str]:
    return [
        f"{e['level']}: {e['message']}"
        for e in driver.get_log("browser")
        if e["level"] in ("SEVERE", "WARNING") or "Content Security Policy" in e["message"]
    ]


def test_answers_side_by_side_with_line_breaks_kept_at_1280px(reviewer, page_app):
    open_item(reviewer, page_app, "th")
    left, right = rect(reviewer, "#left"), rect(reviewer, "#right")
    assert abs(left["top"] - right["top"]) < 2 and left["right"] <= right["left"], (left, right)  # side by side
    # Equal columns although one answer holds a 260-character unbreakable string (it wraps inside its box).
    assert 0.95 < left["width"] / right["width"] < 1.05 and left["width"] > 450, (left, right)
    assert style(reviewer, "#left", "whiteSpace") == style(reviewer, "#prompt", "whiteSpace") == "pre-wrap"
    listed = "#left" if reviewer.find_element(By.ID, "left").text.startswith("1.") else "#right"
    assert lines(reviewer, listed) == 3  # the numbered list on three lines, not one
    assert "Times" not in style(reviewer, "body", "fontFamily")
    assert overflow(reviewer) == []
    assert console_problems(reviewer) == []
    screenshot(reviewer, "review-th-1280")


def test_layout_at_390px_stacks_the_answers_within_the_screen(reviewer, page_app):
    viewport(reviewer, 390, 844)
    for language in ("th", "my"):
        open_item(reviewer, page_app, language)
        assert reviewer.execute_script("return document.documentElement.clientWidth") == 390
        left, right = rect(reviewer, "#left"), rect(reviewer, "#right")
        assert right["top"] >= left["bottom"] and min(left["width"], right["width"]) > 300, (left, right)
        assert overflow(reviewer) == []
        screenshot(reviewer, f"review-{language}-390")
    assert console_problems(reviewer) == []


@pytest.mark.parametrize("language", sorted(FONTS))
def test_each_script_renders_with_a_font_that_has_its_glyphs(reviewer, page_app, language):
    open_item(reviewer, page_app, language)
    assert set(re.findall(r'"([^"]+)"', style(reviewer, "#prompt", "fontFamily"))) & FONTS[language], (
        "the page's font stack names none of the script's fonts"
    )
    reviewer.execute_cdp_cmd("DOM.enable", {})
    reviewer.execute_cdp_cmd("CSS.enable", {})
    root = reviewer.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    for css in ("#prompt", "#left", "#right"):
        node = reviewer.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": css})["nodeId"]
        fonts = reviewer.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        # The font that drew most glyphs is one made for the script (a font without them draws boxes: .notdef).
        main = max(fonts, key=lambda f: f["glyphCount"])
        assert main["familyName"] in FONTS[language], (css, fonts)
    screenshot(reviewer, f"review-{language}-1280")
    assert console_problems(reviewer) == []


def test_every_page_loads_without_console_errors(reviewer, page_app, browser):
    server, _, tokens = page_app
    for path, status in (("/review", 200), ("/verdicts", 200), ("/review?item=99999", 422)):
        reviewer.get(f"{server.url}{path}")
        own = f"SEVERE: {server.url}{path} - Failed to load resource: the server responded with a status of {status}"
        assert [p for p in console_problems(reviewer) if not p.startswith(own)] == [], path
        assert style(reviewer, "main", "maxWidth") != "none", path  # the stylesheet applied
    login(browser, server, tokens["admin"])
    assert browser.find_element(By.ID, "reviewers")
    assert console_problems(browser) == []
    screenshot(browser, "admin-1280")
    browser.delete_all_cookies()
    browser.get(f"{server.url}/")
    assert console_problems(browser) == []
    screenshot(browser, "login-1280")
