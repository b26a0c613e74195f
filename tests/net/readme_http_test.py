#!/usr/bin/env python3
"""The README's curl examples (section "HTTP API") run as written against a real boxofficed.

Each `curl` line of the section's first sh block ends with a comment giving its status code and,
quoted, text its reply must contain; `H=...` is pointed at the test server. Run from the
repository root, as a reader would. Usage: readme_http_test.py BOXOFFICED REPO_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import Server, free_port, remove_table  # noqa: E402

BOXOFFICED, REPO = sys.argv[1], sys.argv[2]
TIMEOUT_S = 10


def readme_examples():
    text = open(os.path.join(REPO, "README.md")).read()
    section = text[text.index("## HTTP API"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    examples = []
    for line in block.splitlines():
        if not line.startswith("curl "):
            continue
        command, _, comment = line.partition("  # ")
        m = re.match(r"(\d{3})", comment.strip())
        assert m, f"no status code in the comment of: {line}"
        examples.append((command.strip(), int(m.group(1)), re.findall(r'"([^"]*)"', comment)))
    return examples


class ReadmeHttpTest(unittest.TestCase):
    def test_every_curl_example_answers_as_documented(self):
        examples = readme_examples()
        self.assertGreaterEqual(len(examples), 10)
        http_port = free_port()
        shm = f"/dev/shm/boxoffice-readmetest-{os.getpid()}"
        directory = tempfile.mkdtemp()
        server = Server(BOXOFFICED, directory,
                        ["--http", f"127.0.0.1:{http_port}", "--workers", "1", "--no-pin",
                         "--shm", shm, "--data-dir", os.path.join(directory, "data"),
                         "--holds-max", "65536", "--idempotency-keys-max", "65536",
                         "--arena-bytes", str(256 << 20)])
        try:
            server.start()
            for command, status, texts in examples:
                script = (f"H=http://127.0.0.1:{http_port}\n{command} --max-time {TIMEOUT_S} "
                          f"-w '\\n%{{http_code}}'")
                run = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True,
                                     text=True, timeout=TIMEOUT_S * 2)
                body, _, code = run.stdout.rpartition("\n")
                self.assertEqual(code, str(status), f"{command}\n{run.stdout}{run.stderr}")
                for text in texts:
                    self.assertIn(text, body, command)
        finally:
            server.stop()
            remove_table(shm)
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
