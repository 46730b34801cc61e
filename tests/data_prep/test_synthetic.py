"""Synthetic eval-set generation's filtering, retries and versioning, over real HTTP against a scripted stub: a local
server that speaks the OpenAI chat-completions shape and replays canned replies (no model behind it). The real
OpenAI-compatible server (`transformers serve` on the Gemma 3 fixture) is exercised by the CLAIR tests."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_prep.synthetic import SyntheticGenerationError, SyntheticSettings, run

REPO = Path(__file__).resolve().parents[2]

MY_1 = "မြန်မာနိုင်ငံ၏ မြို့တော်မှာ နေပြည်တော် ဖြစ်သည်။ ရန်ကုန်မှာ အကြီးဆုံးမြို့ ဖြစ်သည်။"
MY_2 = "ဧရာဝတီမြစ်သည် မြန်မာနိုင်ငံ၏ အရှည်ဆုံးမြစ် ဖြစ်ပြီး လယ်ယာစိုက်ပျိုးရေးအတွက် အရေးကြီးသည်။"
KM_1 = "រាជធានីរបស់ប្រទេសកម្ពុជាគឺភ្នំពេញ។ ទន្លេមេគង្គហូរកាត់ប្រទេសនេះ។"
KM_2 = "អង្គរវត្តគឺជាប្រាសាទដ៏ធំបំផុតមួយនៅលើពិភពលោក ហើយត្រូវបានសាងសង់នៅសតវត្សរ៍ទីដប់ពីរ។"
ENGLISH = "The capital of Myanmar is Naypyidaw, and Yangon is its largest city."
# Per language, the canned replies in order: two good ones, an exact and a near duplicate, off-language, too short.
REPLIES = {
    "my": [MY_1, MY_2, MY_1, MY_1.replace("မြို့ ဖြစ်သည်။", "မြို့ ဖြစ်ပါသည်။"), ENGLISH, "ဟုတ်"],
    "km": [KM_1, ENGLISH, KM_2, KM_2.replace("ហើយ", "និង")],
}


def _scripted_stub(fail_first: int):
    state = {"calls": {"my": 0, "km": 0}, "failures_left": fail_first, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"] += 1
            if state["failures_left"] > 0:
                state["failures_left"] -= 1
                self.send_response(503)
                self.end_headers()
                return
            prompt = body["messages"][0]["content"]
            lang = "my" if "မြန်မာ" in prompt else "km"
            text = REPLIES[lang][state["calls"][lang] % len(REPLIES[lang])]
            state["calls"][lang] += 1
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


@pytest.fixture
def stub_server():
    srv, state = _scripted_stub(fail_first=2)
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1", state
    srv.shutdown()


def test_generates_filters_and_versions(stub_server, tmp_path):
    url, state = stub_server
    settings = SyntheticSettings(base_url=url, samples_per_language=6, backoff_s=0.01, version="t1")
    meta = run(settings, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "synthetic-t1" / "data.jsonl").read_text().splitlines()]
    by_lang = {lang: [r["text"] for r in rows if r["lang"] == lang] for lang in ("my", "km")}
    assert by_lang["my"] == [MY_1, MY_2]
    assert by_lang["km"] == [KM_1, KM_2]
    assert meta["kept"] == {"my": 2, "km": 2}
    # my: 2 duplicates, 1 English, 1 too short; km (6 calls over 4 replies): 2 English, 2 duplicates
    assert meta["rejected"] == {"language": 3, "duplicate": 4, "too_short": 1}
    assert state["requests"] == 12 + 2  # two 503s were retried
    on_disk = json.loads((tmp_path / "synthetic-t1" / "metadata.json").read_text())
    assert on_disk["sha256"] == meta["sha256"] and len(meta["sha256"]) == 64


def test_gives_up_after_retries(tmp_path):
    srv, _ = _scripted_stub(fail_first=100)
    try:
        settings = SyntheticSettings(
            base_url=f"http://127.0.0.1:{srv.server_address[1]}/v1",
            samples_per_language=1,
            max_retries=2,
            backoff_s=0.01,
        )
        with pytest.raises(SyntheticGenerationError, match="3 attempts"):
            run(settings, tmp_path)
    finally:
        srv.shutdown()


def test_the_command_runs_under_its_name():
    """`python -m recipes.synthetic` is the command (the library is data_prep.synthetic)."""
    out = subprocess.run(
        [sys.executable, "-m", "recipes.synthetic", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m recipes.synthetic ")
