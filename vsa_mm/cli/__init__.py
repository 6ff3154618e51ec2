"""The plumbing of vsa_mm's command-line tools (``tools/``).

``tool``: one-line errors and config loading; ``run_options``: the flags
tools/train.py and tools/test.py share with the OpenMMLab libraries'
tools; ``launch``: building the Runner (CPU distributed included);
``convert_files``: the checkpoint converters' file handling. The tools are
scripts run from several folders and from the installed package
(``mim run vsa_mm ...``), so their shared code is a package module. Nothing
here is imported by ``import vsa_mm``.
"""
