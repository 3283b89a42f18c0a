"""The docs name only things that exist: every repo path and every ``tools/`` flag.

Read: README.md, docs/*.md (also docs/notes/) and configs/*/README.md. Checked:

* repo paths (``tools/x.py``, ``configs/.../x.py``, ``docs/x.md``, ``hrnet_mm/...``,
  ``tests/x.py`` with an optional ``::test_name``, ``requirements/x.txt``) exist on disk, and a
  named test function exists in its file; globs (``configs/*/README.md``) match something;
* relative markdown links (``[text](../x.md)``) point at a file, from the page's folder;
* every ``--flag`` that follows ``tools/NAME.py`` in the same command (a code-block line with its
  ``\\`` continuations, or the same inline code span) is one that tool accepts: named in its
  source, or else in its ``--help``.

Not checked: URLs, outputs (``work_dirs/...``, files a command writes, anything not under the
folders above) and the few placeholders in ``ALLOWED``.
"""
import functools
import glob
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = sorted({osp.relpath(p, REPO_ROOT) for pattern in (
    'README.md', 'docs/*.md', 'docs/notes/*.md', 'configs/*/README.md')
    for p in glob.glob(osp.join(REPO_ROOT, pattern))})

# Repo paths named in the docs that are not expected on disk, with the reason.
ALLOWED = {
    'tools/<name>.py': 'placeholder for a new command line (docs/design.md)',
    'hrnet_mm/.mim': 'generated at build time by setup.py (the installed package holds it)',
}
URL = re.compile(r'[a-z][a-z0-9+.-]*://\S+')
PATH = re.compile(r'(?<![\w./:~-])((?:tools|configs|docs|hrnet_mm|tests|requirements)/'
                  r'[\w./*<>{}-]*[\w*>}/])(::\w+)?')
LINK = re.compile(r'\]\(([^)\s]+)\)')
TOOL = re.compile(r'(?<![\w./-])tools/(\w+\.(?:py|sh))')
FLAG = re.compile(r'(?<![\w-])--[a-z][a-z0-9-]*')
# The shell launchers pass their extra arguments on to the Python tool.
FORWARDS = {'dist_train.sh': 'train.py', 'dist_test.sh': 'test.py'}


def _read(page):
    with open(osp.join(REPO_ROOT, page)) as f:
        return f.read()


def _allowed(path):
    return any(path == a or path.startswith(a + '/') for a in ALLOWED)


def _paths(page):
    """``(path, test_name or None, line number)`` of every repo path named on ``page``."""
    for number, line in enumerate(_read(page).splitlines(), 1):
        for m in PATH.finditer(URL.sub(' ', line)):
            yield m.group(1).rstrip('.'), (m.group(2) or '')[2:] or None, number


def _commands(page):
    """``(tool file, text after it, line number)`` for each ``tools/NAME`` in a command: the
    rest of a code-block line (with its continuations, up to a comment or ``|``/``&&``/``;``),
    or the rest of its inline code span in prose."""
    lines = _read(page).splitlines()
    in_block = False
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        if line.lstrip().startswith('```'):
            in_block = not in_block
            i += 1
            continue
        if in_block:
            while line.rstrip().endswith('\\') and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + ' ' + lines[i]
            line = re.split(r'\s#|\|\s|&&|;', line)[0]
            segments = [line]
        else:
            segments = re.findall(r'`([^`]+)`', line)
        for segment in segments:
            tools = list(TOOL.finditer(segment))
            for k, m in enumerate(tools):
                end = tools[k + 1].start() if k + 1 < len(tools) else len(segment)
                yield m.group(1), segment[m.end():end], number
        i += 1


def _module_sources(module):
    """The source of ``hrnet_mm.x.y``: its file, or every file of its package."""
    path = osp.join(REPO_ROOT, *module.split('.'))
    if osp.isfile(path + '.py'):
        return _read(osp.relpath(path + '.py', REPO_ROOT))
    return ''.join(_read(osp.relpath(f, REPO_ROOT))
                   for f in sorted(glob.glob(osp.join(path, '*.py'))))


@functools.lru_cache(maxsize=None)
def _accepted(tool):
    """The text a flag of ``tool`` must appear in: its source (and the one it forwards to) and
    the hrnet_mm modules it imports (argument helpers such as ``add_common_args``)."""
    text = ''
    for name in (tool, FORWARDS.get(tool)):
        if name and osp.isfile(osp.join(REPO_ROOT, 'tools', name)):
            source = _read(f'tools/{name}')
            text += source
            for module in set(re.findall(r'^\s*(?:from|import) (hrnet_mm[\w.]*)', source, re.M)):
                text += _module_sources(module)
    return text


@functools.lru_cache(maxsize=None)
def _help(tool):
    """``--help`` of a Python tool (for flags added by a helper in hrnet_mm.apis)."""
    tool = FORWARDS.get(tool, tool)
    if not tool.endswith('.py'):
        return ''
    out = subprocess.run([sys.executable, osp.join('tools', tool), '--help'], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    return out.stdout


def test_pages_are_found():
    assert 'README.md' in PAGES and 'docs/install.md' in PAGES and len(PAGES) > 10


@pytest.mark.parametrize('page', PAGES)
def test_named_paths_exist(page):
    missing = []
    for path, test_name, number in _paths(page):
        if _allowed(path):
            continue
        full = osp.join(REPO_ROOT, path)
        if any(c in path for c in '*<{'):
            if not glob.glob(re.sub(r'<[^>]*>|\{[^}]*\}', '*', full)):
                missing.append(f'{page}:{number}: {path} (matches nothing)')
        elif not osp.exists(full):
            missing.append(f'{page}:{number}: {path}')
        elif test_name and not re.search(rf'^(async )?def {test_name}\(', _read(path), re.M):
            missing.append(f'{page}:{number}: {path}::{test_name} (no such test)')
    assert not missing, 'named in the docs but not in the repo:\n' + '\n'.join(missing)


@pytest.mark.parametrize('page', PAGES)
def test_relative_links_resolve(page):
    missing = []
    for number, line in enumerate(_read(page).splitlines(), 1):
        for target in LINK.findall(line):
            if URL.match(target) or target.startswith(('#', 'mailto:')):
                continue
            path = osp.normpath(osp.join(REPO_ROOT, osp.dirname(page), target.split('#')[0]))
            if not osp.exists(path):
                missing.append(f'{page}:{number}: {target}')
    assert not missing, 'links to missing files:\n' + '\n'.join(missing)


@pytest.mark.parametrize('page', PAGES)
def test_tool_flags_exist(page):
    unknown = []
    for tool, rest, number in _commands(page):
        if not osp.isfile(osp.join(REPO_ROOT, 'tools', tool)):
            continue  # reported by test_named_paths_exist
        for flag in FLAG.findall(rest):
            if flag == '--help':
                continue
            source = _accepted(tool)
            if re.search(rf'[\'"]{flag}[\'"=]|^\s*{flag}[)|]|\s{flag}[)|]', source, re.M):
                continue
            if re.search(rf'(?<![\w-]){flag}(?![\w-])', _help(tool)):
                continue
            unknown.append(f'{page}:{number}: tools/{tool} {flag}')
    assert not unknown, 'flags the tools do not accept:\n' + '\n'.join(unknown)
