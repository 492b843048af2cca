"""package.xml: well-formed format 3, consistent with setup.py, and declaring what the code imports."""

import ast
import glob
import os
import xml.etree.ElementTree as ElementTree

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ROS packages that the ROS shell or the launch file may import; each one imported must be an exec_depend
ROS_PACKAGES = {'rclpy', 'rcl_interfaces', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'builtin_interfaces',
                'ament_index_python', 'launch', 'launch_ros'}


@pytest.fixture(scope='module')
def package():
    """package.xml's root element."""
    with open(os.path.join(ROOT, 'package.xml')) as f:
        text = f.read()
    assert 'href="http://download.ros.org/schema/package_format3.xsd"' in text
    return ElementTree.fromstring(text)


def setup_keyword(name):
    """A literal keyword argument of the setup() call in setup.py."""
    with open(os.path.join(ROOT, 'setup.py')) as f:
        tree = ast.parse(f.read())
    values = {node.targets[0].id: node.value for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    setup = next(n for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'setup')
    value = next(k.value for k in setup.keywords if k.arg == name)
    return ast.literal_eval(values[value.id] if isinstance(value, ast.Name) else value)


def imported_top_level_modules(paths):
    """Top-level module names imported by the Python files under ``paths``."""
    modules = set()
    for path in paths:
        for filename in glob.glob(os.path.join(ROOT, path), recursive=True):
            with open(filename) as f:
                for node in ast.walk(ast.parse(f.read())):
                    if isinstance(node, ast.Import):
                        modules |= {a.name.split('.')[0] for a in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.level == 0:
                        modules.add(node.module.split('.')[0])
    return modules


@pytest.mark.linter
@pytest.mark.xmllint
def test_package_xml_is_format_3_and_matches_setup_py(package):
    assert package.tag == 'package' and package.get('format') == '3'
    assert package.findtext('name') == setup_keyword('name') == 'seg_perception'
    assert package.findtext('version') == setup_keyword('version')
    assert package.findtext('license') == setup_keyword('license')
    assert package.findtext('description').strip()
    maintainer = package.find('maintainer')
    assert maintainer is not None and maintainer.get('email') and maintainer.text.strip()
    assert package.findtext('export/build_type') == 'ament_python'


@pytest.mark.linter
@pytest.mark.xmllint
def test_package_xml_declares_every_ros_package_the_code_imports(package):
    exec_depends = {e.text for e in package.findall('exec_depend')}
    imported = imported_top_level_modules(['seg_perception/ros/*.py', 'launch/*.py']) & ROS_PACKAGES
    assert imported >= {'rclpy', 'sensor_msgs', 'diagnostic_msgs', 'launch_ros'}
    assert imported <= exec_depends, f'missing exec_depend: {sorted(imported - exec_depends)}'


@pytest.mark.linter
@pytest.mark.xmllint
def test_package_xml_declares_the_linters_the_tests_use(package):
    test_depends = {e.text for e in package.findall('test_depend')}
    linters = {'ament_copyright', 'ament_flake8', 'ament_pep257', 'ament_xmllint', 'python3-pytest'}
    assert linters <= test_depends
