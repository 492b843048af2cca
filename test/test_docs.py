"""README is a front page that stays short, its links lead somewhere, and its library example runs as written."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
DOC = os.path.join(ROOT, 'doc')
README_MAX_BYTES = 16 * 1024
LIBRARY_SECTION = 'Python API'

LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
FENCE = re.compile(r'^```.*?^```', re.S | re.M)


def _read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def _markdown_files():
    return [README] + sorted(os.path.join(DOC, name) for name in os.listdir(DOC) if name.endswith('.md'))


def _links(text):
    """Targets of the markdown links in ``text``, code blocks left out."""
    return LINK.findall(FENCE.sub('', text))


def _anchors(text):
    """GitHub's anchors for the headings of ``text``: lower case, punctuation dropped, spaces as hyphens."""
    anchors, seen = set(), {}
    for heading in re.findall(r'^#{1,6}\s+(.+?)\s*#*\s*$', FENCE.sub('', text), re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.replace('`', '').strip().lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f'{slug}-{n}')
    return anchors


def _intra_repo(target):
    return not re.match(r'^[a-z][a-z0-9+.-]*:', target)     # http:, https:, mailto: ... lead out of the repo


def test_readme_is_a_front_page_under_16_kb():
    size = os.path.getsize(README)
    assert size < README_MAX_BYTES, (f'README.md is {size} bytes, over {README_MAX_BYTES}: move detail into doc/ '
                                     f'and link to it')


def test_every_doc_link_of_readme_names_an_existing_file():
    targets = [t.split('#')[0] for t in _links(_read(README)) if t.startswith('doc/')]
    assert targets, 'README.md links to nothing in doc/'
    missing = sorted({t for t in targets if not os.path.isfile(os.path.join(ROOT, t))})
    assert not missing, f'README.md links to files that do not exist: {missing}'


@pytest.mark.parametrize('path', _markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_points_to_an_existing_file_and_heading(path):
    broken = []
    for target in _links(_read(path)):
        if not _intra_repo(target):
            continue
        file_part, _, anchor = target.partition('#')
        linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(linked):
            broken.append(f'{target} (no file {os.path.relpath(linked, ROOT)})')
        elif anchor and linked.endswith('.md') and anchor not in _anchors(_read(linked)):
            broken.append(f'{target} (no heading #{anchor} in {os.path.relpath(linked, ROOT)})')
    assert not broken, f'{os.path.relpath(path, ROOT)}: broken links: {sorted(set(broken))}'


def test_the_anchor_rule_follows_github():
    text = '# seg_perception\n## The FRRN: `frrn_cpu_camvid`\n## Limits and bad input\n## Limits and bad input\n'
    assert _anchors(text) == {'seg_perception', 'the-frrn-frrn_cpu_camvid', 'limits-and-bad-input',
                              'limits-and-bad-input-1'}


def _library_blocks():
    """The ```python blocks of README's library section, in order."""
    text = _read(README)
    match = re.search(rf'^## {re.escape(LIBRARY_SECTION)}\s*$(.*?)(?=^## |\Z)', text, re.S | re.M)
    assert match, f'README.md has no "## {LIBRARY_SECTION}" section'
    return re.findall(r'^```python\n(.*?)^```', match.group(1), re.S | re.M)


def test_readme_library_example_runs_verbatim_without_torch_or_ros(tmp_path):
    blocks = _library_blocks()
    assert blocks, f'README.md\'s "{LIBRARY_SECTION}" section has no ```python block'
    script = tmp_path / 'readme_example.py'
    # run as written, in a fresh interpreter in an empty folder; then say which heavy modules it pulled in
    script.write_text('\n\n'.join(blocks) + textwrap.dedent('''
        import sys as _sys
        print('HEAVY', sorted(m for m in ('torch', 'rclpy') if m in _sys.modules))
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f'the README example failed:\n{run.stdout}\n{run.stderr}'
    assert 'HEAVY []' in run.stdout, f'the README example imported torch or rclpy: {run.stdout.splitlines()[-1]}'
    assert (tmp_path / 'overlay.jpg').stat().st_size > 0


def test_the_names_the_readme_uses_import_from_the_package_top_without_heavy_modules():
    code = textwrap.dedent('''
        import sys
        import seg_perception
        loaded = sorted(m for m in ('onnxruntime', 'torch', 'rclpy') if m in sys.modules)
        assert not loaded, f'import seg_perception loaded {loaded}'
        from seg_perception import CameraModel, TemporalFlipCheck
        from seg_perception.ambiguity import TemporalFlipCheck as original
        assert TemporalFlipCheck is original and CameraModel.__module__ == 'seg_perception.camera'
        loaded = sorted(m for m in ('onnxruntime', 'torch', 'rclpy') if m in sys.modules)
        assert not loaded, f'CameraModel and TemporalFlipCheck loaded {loaded}'
        from seg_perception import Segmenter, Segmentation
        assert set(seg_perception.__all__) <= set(dir(seg_perception))
        try:
            seg_perception.NoSuchName
        except AttributeError as e:
            assert 'NoSuchName' in str(e)
        else:
            raise AssertionError('an unknown name did not raise AttributeError')
    ''')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    run = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
