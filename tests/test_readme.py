"""The README's promises: its Python examples run as written, and CI runs exactly its
two set-up commands."""
import pathlib
import re
import os
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()


def test_python_examples_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write files into the current folder
    blocks = re.findall(r'```python\n(.*?)```', README, re.S)
    assert blocks, 'README has no python examples'
    for block in blocks:
        exec(compile(block, 'README.md', 'exec'), {})


def test_ci_runs_the_two_readme_setup_commands():
    section = README.split('## Set up', 1)[1].split('\n## ', 1)[0]
    commands = [b.strip() for b in re.findall(r'```bash\n(.*?)```', section, re.S)]
    assert len(commands) == 2
    assert 'kzoo get' in commands[0]
    assert 'pytest' in commands[1]
    script = (ROOT / '.ci' / 'run').read_text()
    out = subprocess.run(['awk', r'/^## Set up/{on=1; next} /^## /{on=0} on && /^```bash/{block=1;'
                          r' next} block && /^```/{block=0; next} block{print}', 'README.md'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split('\n')[:2] == commands
    assert 'README.md' in script


def test_demo_command_runs():
    kzoo = os.path.join(os.path.dirname(sys.executable), 'kzoo')
    out = subprocess.run([kzoo, 'demo'], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'Total params: 195' in out.stdout
