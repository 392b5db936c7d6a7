# Classic nbdev 2 setup.py: every setting lives in settings.ini -- edit there, not here.
from configparser import ConfigParser
from pathlib import Path
import shlex
import setuptools

here = Path(__file__).resolve().parent
config = ConfigParser(delimiters=['='])
config.read(here/'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o: cfg[o] for o in cfg_keys}

# name -> (text, trove classifier, SPDX expression)
licenses = {
    'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License', 'Apache-2.0'),
    'mit': ('MIT License', 'OSI Approved :: MIT License', 'MIT'),
    'gpl2': ('GNU General Public License v2', 'OSI Approved :: GNU General Public License v2 (GPLv2)', 'GPL-2.0-only'),
    'gpl3': ('GNU General Public License v3', 'OSI Approved :: GNU General Public License v3 (GPLv3)', 'GPL-3.0-only'),
    'bsd3': ('BSD License', 'OSI Approved :: BSD License', 'BSD-3-Clause'),
}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
            '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13 3.14'.split()

requirements = shlex.split(cfg.get('requirements', ''))
if cfg.get('pip_requirements'): requirements += shlex.split(cfg.get('pip_requirements', ''))
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None, None))
# setuptools>=77 deprecates License :: classifiers in favour of an SPDX license expression
if lic[2] and int(setuptools.__version__.split('.')[0]) >= 77:
    lic_kw, lic_classifiers = {'license_expression': lic[2]}, []
else:
    lic_kw, lic_classifiers = {'license': lic[0]}, (['License :: ' + lic[1]] if lic[1] else [])
dev_requirements = shlex.split(cfg.get('dev_requirements') or '')
bench_requirements = shlex.split(cfg.get('bench_requirements') or '')

package_data = dict()
pkg_data = cfg.get('package_data', None)
if pkg_data: package_data[cfg['lib_name']] = pkg_data.split()
setup_cfg['package_data'] = package_data

readme = here/'README.md'
long_description = readme.read_text(encoding='utf-8') if readme.exists() else cfg['description']

setuptools.setup(
    name=cfg['lib_name'],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status']) - 1],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]]
      + lic_classifiers,
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require={'dev': dev_requirements, 'bench': bench_requirements},
    dependency_links=cfg.get('dep_links', '').split(),
    python_requires='>=' + cfg['min_python'],
    long_description=long_description,
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d'],
    },
    **lic_kw, **setup_cfg)
