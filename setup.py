# Classic nbdev 2 setup.py: every setting lives in settings.ini -- edit there, not here.
from configparser import ConfigParser
from pathlib import Path
import importlib.util, os, shlex, sys
import setuptools
from setuptools.command.build_ext import build_ext

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



def compiled_build():
    "gonb/compiled/__init__.py (chapter 15) loaded on its own: importing gonb would need its run-time requirements."
    sys.path.insert(0, str(here))   # where it finds the package it builds, not an installed gonb
    spec = importlib.util.spec_from_file_location('gonb_compiled_build', here/'gonb'/'compiled'/'__init__.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    assert mod.PKG_DIR == here/'gonb', f"gonb.compiled found {mod.PKG_DIR}, not {here/'gonb'}"
    return mod


class build_compiled(build_ext):
    """The compiled build (chapter 15) as setuptools' build_ext step: a wheel or a plain install carries it in
    gonb/__compiled__/<build id>/, recorded by pip; an editable install builds into the checkout, as `make compile`.
    Without a C compiler, or when the build fails, one line says why and gonb installs as pure Python."""
    def run(self):
        c = compiled_build()
        self.outputs = []
        if getattr(self, 'editable_mode', False) or self.inplace:
            try: c.build(os.cpu_count() or 1)
            except Exception as e: print(f"gonb.compiled: {' '.join(str(e).split())}: gonb runs as pure Python")
        else:
            root = Path(self.build_lib)/'gonb'/'__compiled__'
            c.build_into(root, os.cpu_count() or 1)
            self.outputs = [str(p) for p in root.rglob('*') if p.is_file()]

    def get_outputs(self): return getattr(self, 'outputs', [])
    def get_output_mapping(self): return {}


class BinaryDistribution(setuptools.Distribution):
    "A wheel for one interpreter and platform (the build inside is), even though no Extension is declared."
    def has_ext_modules(self): return True

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
    distclass=BinaryDistribution,
    cmdclass={'build_ext': build_compiled},
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d'],
    },
    **lic_kw, **setup_cfg)
