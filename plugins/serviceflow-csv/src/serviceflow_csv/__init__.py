"""serviceflow-csv: findings as CSV, one row each, for auditors who open them in a spreadsheet.

``serviceflow lint records/ --format csv -o findings.csv``. The reporter is
:func:`serviceflow_csv.reporter.render_csv`; the hook that declares it is in :mod:`serviceflow_csv.plugin`.
"""

__version__ = "0.1.0"
